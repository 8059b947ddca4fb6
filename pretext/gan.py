"""GAN as a representation learner: the discriminator is the shared backbone plus a real/fake head.

The generator (``mlp`` or ``dcgan``, see ``generators``) makes values in [0, 1] (the stored range of 8-bit images,
each band's mean +- 3 std of wider rasters: ``generators.pixel_range``), normalised like the real batch, so the
discriminator sees both in one space. Each training step is one discriminator step on the step's real
batch; a generator step follows every ``d_steps``-th discriminator step, and ``g_steps`` generator steps are
taken then (``d_steps=5`` is WGAN's recipe; ``g_steps=2`` the reverse). The counts live in the engine's
``steps_taken`` (saved in checkpoints), so a resumed run alternates exactly like an uninterrupted one.

Objectives: see ``gan_losses``. ``wgan`` clips the critic's weights to [-clip, clip] after each step unless
``gp_weight`` > 0 (WGAN-GP). Stabilizers, each a parameter (the seed lectures'; Salimans et al. 2016 for most):
``real_label`` < 1 is one-sided label smoothing, ``label_noise`` > 0 soft labels (real in [real_label -
label_noise, real_label], fake in [0, label_noise]); ``replay`` the share of each fake batch drawn from a buffer
of ``replay_size`` past fakes (Shrivastava et al. 2017); ``feature_matching`` trains the generator to match the
mean backbone features of real batches instead of fooling the head; ``diffaugment`` the differentiable
augmentation of real and fake batches (Zhao et al. 2020); ``rollback`` > 0 restores the last good state (model
and optimizers, kept in memory every ``snapshot_every`` steps) when a loss becomes non-finite or the
discriminator loss falls below ``collapse_below``, at most ``rollback`` times, each logged as ``rollback``;
``minibatch`` > 0 adds that many minibatch-discrimination kernels before the head; ``spectral_norm`` divides
every conv and linear weight of the discriminator (trunk and heads) by its largest singular value (Miyato et al.
2018); the exported trunk holds the normalised weights under plain names. With ``gp_weight`` > 0 the trunk
must not use batch norm: ``backbone.norm=auto`` then builds it with layer norm (see ``backbones.norms``).

Growing generators (``growing_generators``): ``generator=pggan`` or ``style`` (a mapping network z -> w and
per-block AdaIN from w; ``plots/gan/interpolation_z_vs_w.png`` then shows, for each pair of latents, a row
interpolated in z above one interpolated in w). ``progressive=true`` grows either one (Karras et al. 2018):
``stage_images`` real images at each resolution and ``fade_images`` to fade each new one in; real images reach the
discriminator at the stage's resolution (``lower_resolution``), so both sides of the game grow together while
the discriminator, the shared backbone, keeps one input size. The count of real images seen is a buffer (in
checkpoints), so a resumed run is at the same stage and fade; each step logs ``stage`` and ``fade``.

With labels: ``conditional`` feeds a one-hot class to the generator and projects a class embedding onto the
discriminator's features (the projection discriminator, Miyato & Koyama 2018); ``auxiliary`` is AC-GAN (Odena et
al. 2017): the generator gets the class too, and an auxiliary head on the discriminator classifies real and
generated images, its cross-entropy added to both players' losses.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from pretext.base import EpochContext, NonFiniteLoss, PretextTask, StepContext
from pretext.diffaugment import diff_augment
from pretext.gan_losses import OBJECTIVES, discriminator_loss, generator_loss, gradient_penalty
from pretext.generators import create_generator, normalise, pixels
from pretext.growing_generators import GROWING_KINDS, ProgressiveSchedule, lower_resolution
from pretext.minibatch_discrimination import MinibatchDiscrimination
from ssl_toolkit import atomic
from ssl_toolkit.analysis.sample_quality import reference, sample_quality, trained_judge
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.backbones.norms import add_spectral_norm
from ssl_toolkit.data.splits import DataSource
from ssl_toolkit.pictures.bands import band_table
from ssl_toolkit.pictures.grids import save_grid, save_progression
from ssl_toolkit.registry import TASKS


@TASKS.register("gan")
class GAN(PretextTask):
    """Generator vs discriminator (= shared backbone + real/fake head); k:1 alternation, six objectives."""

    # DCGAN's (Radford et al. 2016): Adam, lr 2e-4, beta1 0.5, no schedule
    optimizer_recipe = {
        "optim.name": "adam",
        "optim.lr": 2e-4,
        "optim.weight_decay": 0.0,
        "optim.momentum": 0.5,
        "schedule.name": "constant",
        "schedule.warmup_steps": 0,
    }

    def __init__(
        self,
        backbone: Backbone,
        generator: Literal["mlp", "dcgan", "pggan", "style"] = "dcgan",
        latent_dim: int = 64,
        objective: Literal["minimax", "non_saturating", "lsgan", "wgan", "hinge"] = "non_saturating",
        d_steps: int = 1,
        g_steps: int = 1,
        real_label: float = 1.0,
        clip: float = 0.01,
        gp_weight: float = 0.0,
        label_noise: float = 0.0,
        replay: float = 0.0,
        replay_size: int = 512,
        feature_matching: bool = False,
        diffaugment: bool = False,
        rollback: int = 0,
        snapshot_every: int = 50,
        collapse_below: float = 0.0,
        quality_samples: int = 1000,
        minibatch: int = 0,
        conditional: bool = False,
        auxiliary: bool = False,
        spectral_norm: bool = False,
        progressive: bool = False,
        stage_images: int = 20000,
        fade_images: int = 20000,
    ) -> None:
        """``d_steps``/``g_steps``: discriminator steps per generator round / generator steps per round;
        ``clip``: WGAN weight clipping (when ``gp_weight`` is 0); ``gp_weight``: WGAN-GP's lambda (10 in the paper).
        The stabilizers are described in the module docstring. ``quality_samples``: generated images measured by
        ``sample_quality`` after each epoch on labelled data (0: none)."""
        super().__init__(backbone)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        if d_steps < 1 or g_steps < 1:
            raise ValueError(f"d_steps and g_steps must be at least 1, got {d_steps} and {g_steps}")
        if not 0.5 < real_label <= 1.0:
            raise ValueError(f"real_label must be in (0.5, 1], got {real_label}")
        if latent_dim < 1 or clip <= 0 or gp_weight < 0:
            raise ValueError("latent_dim must be >= 1, clip > 0 and gp_weight >= 0")
        if not 0 <= label_noise < 0.5 or not 0 <= replay < 1 or replay_size < 1:
            raise ValueError("label_noise must be in [0, 0.5), replay in [0, 1) and replay_size >= 1")
        if rollback < 0 or snapshot_every < 1 or collapse_below < 0:
            raise ValueError("rollback must be >= 0, snapshot_every >= 1 and collapse_below >= 0")
        if minibatch < 0:
            raise ValueError(f"minibatch must be >= 0, got {minibatch}")
        if progressive and generator not in GROWING_KINDS:
            raise ValueError(f"progressive growing needs generator={' or '.join(GROWING_KINDS)}, got {generator!r}")
        if stage_images < 0 or fade_images < 0:
            raise ValueError("stage_images and fade_images must be >= 0")
        if gp_weight > 0 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in backbone.modules()):
            raise ValueError(
                "the gradient penalty is per sample, which batch norm breaks; use backbone.norm=layer "
                "(what backbone.norm=auto picks when gp_weight > 0)"
            )
        if (conditional or auxiliary) and replay > 0:
            raise ValueError(
                "replay keeps no labels of past fakes, so it cannot be combined with conditional/auxiliary"
            )
        self.kind, self.latent_dim, self.objective = generator, latent_dim, objective
        self.d_steps, self.g_steps, self.real_label = d_steps, g_steps, real_label
        self.clip, self.gp_weight = clip, gp_weight
        self.label_noise, self.replay, self.replay_size = label_noise, replay, replay_size
        self.feature_matching, self.diffaugment = feature_matching, diffaugment
        self.rollback, self.snapshot_every, self.collapse_below = rollback, snapshot_every, collapse_below
        self.rollbacks_used = 0
        self._snapshot: dict | None = None
        self.quality_samples = quality_samples
        self._judge: tuple | None = None  # (judge, reference), made at the first epoch end
        self.conditional, self.auxiliary, self.num_classes = conditional, auxiliary, 0
        self.minibatch = MinibatchDiscrimination(backbone.num_features, minibatch) if minibatch else None
        self.head_features = backbone.num_features + minibatch
        self.head = nn.Linear(self.head_features, 1)
        self.spectral_norm = spectral_norm
        if spectral_norm:
            add_spectral_norm(backbone)
            add_spectral_norm(self.head)
        self.progressive, self.stage_images, self.fade_images = progressive, stage_images, fade_images
        self.schedule: ProgressiveSchedule | None = None
        self.generator: nn.Module | None = None
        self.embed: nn.Embedding | None = None
        self.aux: nn.Linear | None = None

    @classmethod
    def backbone_norm(cls, params: dict) -> str:
        """Layer norm for a critic with a gradient penalty (WGAN-GP), batch norm otherwise."""
        return "layer" if float(params.get("gp_weight") or 0) > 0 else "batch"

    def fit_data(self, data: DataSource) -> None:
        """The generator makes images of the data's shape; the replay buffer holds such images (and is saved in
        checkpoints, so a resumed run draws from the same past fakes)."""
        if self.conditional or self.auxiliary:
            if data.num_classes == 0:
                raise ValueError("conditional and auxiliary GANs need labelled data")
            self.num_classes = data.num_classes
            if self.conditional:
                self.embed = nn.Embedding(self.num_classes, self.head_features)
                nn.init.normal_(self.embed.weight, std=0.02)
            if self.auxiliary:
                self.aux = nn.Linear(self.head_features, self.num_classes)
                if self.spectral_norm:
                    add_spectral_norm(self.aux)
        self.generator = create_generator(self.kind, self.latent_dim + self.num_classes, data.in_chans, data.img_size)
        if self.progressive:
            self.schedule = ProgressiveSchedule(len(self.generator.sizes), self.stage_images, self.fade_images)
            self.register_buffer("images_seen", torch.zeros((), dtype=torch.long))
        fixed = torch.randn(64, self.latent_dim, generator=torch.Generator().manual_seed(0))
        self.register_buffer("fixed_noise", fixed)  # the same 64 points every epoch: the progression's rows
        # with classes, row r of the 8x8 grid is class r (mod the class count)
        self.register_buffer("fixed_labels", torch.arange(64).div(8, rounding_mode="floor") % max(self.num_classes, 1))
        if self.replay > 0:
            shape = (self.replay_size, data.in_chans, data.img_size, data.img_size)
            self.register_buffer("replay_images", torch.zeros(shape))
            self.register_buffer("replay_filled", torch.zeros((), dtype=torch.long))

    def discriminator_fakes(
        self, n: int, meta: dict[str, torch.Tensor], device: torch.device
    ) -> tuple[torch.Tensor, int]:
        """``n`` fakes for a discriminator step: new ones, and with ``replay`` a share from the buffer of past
        fakes (once it holds enough); the new ones then enter the buffer. Returns (fakes, how many are old)."""
        with torch.no_grad():
            fresh = self.generate(n, meta, device, meta.get("fake_label"))
        if self.replay == 0:
            return fresh, 0
        filled = int(self.replay_filled)
        old = min(int(round(self.replay * n)), filled)
        picked = self.replay_images[torch.randint(0, filled, (old,), device=device)] if old else fresh[:0]
        # the new fakes overwrite the oldest slots (a ring), or random slots once the buffer is full
        slots = (
            torch.arange(filled, filled + n, device=device)
            if filled + n <= self.replay_size
            else (torch.randint(0, self.replay_size, (n,), device=device))
        )
        self.replay_images[slots] = fresh.detach().to(self.replay_images.dtype)
        self.replay_filled.fill_(min(filled + n, self.replay_size))
        return torch.cat([fresh[: n - old], picked.to(fresh.dtype)]), old

    def critic(
        self, images: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(real/fake scores (B,), backbone features (B, F), auxiliary class logits or None)."""
        features = self.backbone(images)
        h = torch.cat([features, self.minibatch(features)], dim=1) if self.minibatch is not None else features
        scores = self.head(h).squeeze(1)
        if self.embed is not None:
            scores = scores + (self.embed(labels) * h).sum(dim=1)  # the projection of the class
        return scores, features, self.aux(h) if self.aux is not None else None

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.critic(images, labels)[0]

    def sample_labels(self, n: int, device: torch.device) -> torch.Tensor | None:
        return torch.randint(0, self.num_classes, (n,), device=device) if self.num_classes else None

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Latent points (and classes) -> [0, 1] pixels."""
        if self.generator is None:
            raise ValueError("the GAN has no generator yet; fit_data(data) sizes it for the data")
        z = self.with_classes(z, labels)
        return self.generator(z, *self.stage()) if self.kind in GROWING_KINDS else self.generator(z)

    def with_classes(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The generator's input: the latent, and with classes their one-hot codes."""
        if not self.num_classes:
            return z
        return torch.cat([z, nn.functional.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)

    def stage(self) -> tuple[int | None, float]:
        """(stage, fade-in weight) of progressive growing at the real images seen so far; (None, 1): the last
        stage, for a growing generator not grown."""
        return self.schedule.at(int(self.images_seen)) if self.schedule is not None else (None, 1.0)

    def _real(self, images: torch.Tensor) -> torch.Tensor:
        """Real images as the discriminator sees them: at the stage's resolution while growing."""
        if self.schedule is None:
            return images
        return lower_resolution(images, self.generator.sizes, *self.stage())

    def generate(
        self, n: int, meta: dict[str, torch.Tensor], device: torch.device, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``n`` generated images, normalised; with classes, ``labels`` (or uniformly drawn ones)."""
        if self.num_classes and labels is None:
            labels = self.sample_labels(n, device)
        return normalise(self.decode(torch.randn(n, self.latent_dim, device=device), labels), meta)

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.generator is None:
            raise ValueError("the GAN has no generator yet; fit_data(data) sizes it for the data")
        generator = {id(p) for p in self.generator.parameters()}
        return {
            "discriminator": [p for p in self.parameters() if id(p) not in generator],
            "generator": list(self.generator.parameters()),
        }

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        return diff_augment(images) if self.diffaugment else images

    def forward(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], part: str = "discriminator"
    ) -> dict[str, torch.Tensor]:
        """The loss of one side: ``discriminator`` on the real batch and as many fakes, or ``generator``."""
        n = images.shape[0]
        real_labels = meta.get("label") if self.num_classes else None
        fake_labels = self.sample_labels(n, images.device)
        if part == "generator":
            fake = self._augment(self.generate(n, meta, images.device, fake_labels))
            scores, features, aux = self.critic(fake, fake_labels)
            if self.feature_matching:
                with torch.no_grad():
                    target = self.backbone(self._augment(self._real(images))).float().mean(dim=0)
                loss = (features.float().mean(dim=0) - target).pow(2).sum()
            else:
                loss = generator_loss(self.objective, scores)
            out = {"d_fake": scores.float().mean().detach()}
            if aux is not None:
                aux_loss = nn.functional.cross_entropy(aux.float(), fake_labels)
                loss, out["aux_loss"] = loss + aux_loss, aux_loss.detach()
            return {"loss": loss, **out}
        fake, old = self.discriminator_fakes(n, {**meta, "fake_label": fake_labels}, images.device)
        real_in, fake_in = self._augment(self._real(images)), self._augment(fake)
        real_scores, _, real_aux = self.critic(real_in, real_labels)
        fake_scores, _, fake_aux = self.critic(fake_in, fake_labels)
        real_target: float | torch.Tensor = self.real_label
        fake_target: float | torch.Tensor = 0.0
        if self.label_noise > 0:
            real_target = self.real_label - self.label_noise * torch.rand(n, device=images.device)
            fake_target = self.label_noise * torch.rand(n, device=images.device)
        loss = discriminator_loss(self.objective, real_scores, fake_scores, real_target, fake_target)
        out = {
            "d_real": real_scores.float().mean().detach(),
            "d_fake": fake_scores.float().mean().detach(),
            "replayed": torch.tensor(old / n),
        }
        if real_aux is not None:
            aux_loss = nn.functional.cross_entropy(real_aux.float(), real_labels) + nn.functional.cross_entropy(
                fake_aux.float(), fake_labels
            )
            loss, out["aux_loss"] = loss + aux_loss, aux_loss.detach()
            out["aux_acc"] = (real_aux.argmax(1) == real_labels).float().mean().detach()
        if self.gp_weight > 0:
            penalty = gradient_penalty(lambda x: self.discriminate(x, real_labels), real_in, fake_in)
            loss = loss + self.gp_weight * penalty
            out["gp"] = penalty.detach()
        return {"loss": loss, **out}

    def training_step(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], ctx: StepContext
    ) -> dict[str, torch.Tensor]:
        if self.schedule is None:
            return self._guarded_step(images, meta, ctx)
        stage, alpha = self.stage()
        out = self._guarded_step(images, meta, ctx)
        self.images_seen += ctx.rows[1] or images.shape[0]  # the global batch: every rank counts alike
        return {**out, "stage": torch.tensor(float(stage)), "fade": torch.tensor(alpha)}

    def _guarded_step(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], ctx: StepContext
    ) -> dict[str, torch.Tensor]:
        if self.rollback == 0:
            return self._alternate(images, meta, ctx)
        if self._snapshot is None or ctx.steps_taken["discriminator"] % self.snapshot_every == 0:
            self._snapshot = self._state(ctx)
        try:
            out = self._alternate(images, meta, ctx)
            d_loss = ctx.mean_over_ranks(out["d_loss"]) if self.collapse_below > 0 else 0.0  # all ranks decide alike
            if self.collapse_below > 0 and d_loss < self.collapse_below:
                raise NonFiniteLoss(f"discriminator loss {d_loss:.2e} below {self.collapse_below}")
            return {**out, "rollback": torch.tensor(0.0)}
        except NonFiniteLoss as e:
            if self.rollbacks_used >= self.rollback:
                raise NonFiniteLoss(f"{e}; {self.rollback} rollback(s) used up") from None
            self.rollbacks_used += 1
            self._restore(self._snapshot, ctx)
            return {"rollback": torch.tensor(1.0)}  # logged as the share of steps rolled back

    def _state(self, ctx: StepContext) -> dict:
        """A deep copy of the model's and the optimizers' states, kept in memory."""
        return copy.deepcopy(
            {"model": self.state_dict(), "optimizers": {n: o.state_dict() for n, o in ctx.optimizers.items()}}
        )

    def _restore(self, state: dict, ctx: StepContext) -> None:
        self.load_state_dict(state["model"])
        for name, opt in ctx.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])

    def _alternate(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], ctx: StepContext
    ) -> dict[str, torch.Tensor]:
        d = ctx.forward(images, meta, part="discriminator")
        ctx.step(d["loss"], "discriminator")
        if self.objective == "wgan" and self.gp_weight == 0:
            with torch.no_grad():
                for p in ctx.optimizers["discriminator"].param_groups[0]["params"]:
                    p.clamp_(-self.clip, self.clip)
        out = {"d_loss": d["loss"].detach(), **{k: v for k, v in d.items() if k != "loss"}}
        if ctx.steps_taken["discriminator"] % self.d_steps == 0:
            for _ in range(self.g_steps):
                g = ctx.forward(images, meta, part="generator")
                ctx.step(g["loss"], "generator")
            out["g_loss"] = g["loss"].detach()
        out["loss"] = out["d_loss"]
        return out

    def draw_bands(self, ctx: EpochContext, path: Path) -> None:
        """Multispectral data: 4 test images and 4 generated ones (of the same classes when conditional), band by
        band and as natural and false-colour composites."""
        real, labels = ctx.test_images(4)
        z = torch.randn(len(real), self.latent_dim, device=ctx.device)
        fake = self.decode(z, labels.to(ctx.device) if self.num_classes else None)
        data = ctx.data
        title = f"{data.name}: real (black) and generated (red), band by band, epoch {ctx.epoch}"
        png = band_table(
            pixels(real, ctx.meta()), fake, data.band_labels, data.display_channels, data.false_colour_channels, title
        )
        atomic.write_bytes(path, png)

    def z_versus_w(self, ends: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """For each of the 4 pairs of latents ``ends`` (2, 4, latent_dim): 8 steps interpolated in z, then 8 in
        w = mapping(z) (64 images: z row, w row, ...)."""
        t = torch.linspace(0, 1, 8, device=ends.device).view(1, 8, 1)
        lerp = lambda a, b: (a.unsqueeze(1) * (1 - t) + b.unsqueeze(1) * t).flatten(0, 1)  # noqa: E731
        row_labels = labels[::8] if labels is not None else None
        z0, z1 = self.with_classes(ends[0], row_labels), self.with_classes(ends[1], row_labels)
        stage = self.stage()
        in_z = self.generator(lerp(z0, z1), *stage)
        in_w = self.generator.synthesis(lerp(self.generator.mapping(z0), self.generator.mapping(z1)), *stage)
        return torch.stack([in_z.unflatten(0, (4, 8)), in_w.unflatten(0, (4, 8))], dim=1).flatten(0, 2)

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        """Real images beside as many generated ones."""
        fake = self.generate(images.shape[0], meta, images.device)
        panels = [x.cpu() for x in images] + [x.cpu() for x in fake]
        return panels, ["real"] * len(images) + ["generated"] * len(fake)

    def epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        """``plots/gan/``: the fixed-noise samples of this epoch, their progression over epochs, real vs fake,
        and interpolations between latent points."""
        folder = ctx.run_dir / "plots" / "gan"
        samples = self.decode(self.fixed_noise, self.fixed_labels if self.num_classes else None)
        save_grid(samples, folder / f"samples_epoch_{ctx.epoch:04d}.png")
        save_progression(samples[:8], folder, ctx.epoch)
        real, _ = ctx.test_images(32)
        save_grid(torch.cat([pixels(real, ctx.meta()), samples[:32]]), folder / "real_vs_fake.png")
        ends = torch.randn(2, 4, self.latent_dim, device=ctx.device)
        t = torch.linspace(0, 1, 8, device=ctx.device).view(1, 8, 1)
        path = ends[0].unsqueeze(1) * (1 - t) + ends[1].unsqueeze(1) * t  # 4 rows of 8 steps
        rows = torch.arange(32, device=ctx.device).div(8, rounding_mode="floor") % max(self.num_classes, 1)
        labels = rows if self.num_classes else None  # one class per row of 8
        save_grid(self.decode(path.reshape(-1, self.latent_dim), labels), folder / "interpolation.png")
        if self.kind == "style":
            save_grid(self.z_versus_w(ends, labels), folder / "interpolation_z_vs_w.png")
        if ctx.data.in_chans > 3:
            self.draw_bands(ctx, folder / "bands_real_vs_fake.png")
        if self.quality_samples == 0 or ctx.data.num_classes == 0:
            return {}
        if self._judge is None:
            judge = trained_judge(ctx.data, ctx.device)
            self._judge = judge, reference(judge, ctx.data, ctx.device)
        judge, ref = self._judge
        fakes = torch.cat(
            [self.generate(len(c), ctx.meta(), ctx.device) for c in torch.arange(self.quality_samples).split(500)]
        )
        return {**sample_quality(judge, fakes, ref), "judge_accuracy": ref.accuracy}

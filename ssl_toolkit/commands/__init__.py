"""The commands of ``ssl``, one module each: ``add_parser(subparsers)`` declares its arguments, ``main(args)``
carries it out. They sit at the top of the flow: they resolve the config, build data, backbone and task
(``ssl_toolkit.build``), run the engine or a probe, and own what lands in the run folder (``ssl_toolkit.runs``)."""

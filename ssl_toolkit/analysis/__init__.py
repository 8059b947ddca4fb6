"""Analyses of a trained network beyond a probe's accuracy: activation maximisation, FGSM, nearest neighbours,
t-SNE (``ssl visualize``), and the sample quality of a generative learner."""

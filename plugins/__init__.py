"""regsim's built-in plugins, laid out by the seed's topics (Deep Learning, chapter 7).

Each topic holds its components, metrics and figures together; each module is an
entry point of the ``regsim`` group (see pyproject.toml), registered exactly as a
third-party plugin would be:

``datasets/``        problems: synthetic designs, CSV tables, Friedman, teacher networks
``norm_penalties/``  L2 and L1: penalties, least-squares learners, Lasso path, metrics, figures
``bagging/``         the bagging ensembler, inference strategies, error moments, trees, figures
``dropout/``         networks, the dropout ensembler, exact and Monte Carlo inference, figures

A plugin author looking for the built-in closest to what they write starts there.
"""

"""Parameter norm penalties (Deep Learning §7.1): the L2 and L1 penalties with their
theory, the least-squares learners batched over the α path (closed form, gradient
descent, proximal gradient, the exact Lasso path), the metrics that put the measured
optimum beside the theory (and the prediction metrics every study uses: train/test
MSE, R², accuracy, log loss), and the L2/L1 figures.
"""

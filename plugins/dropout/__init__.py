"""Dropout (§7.12): the networks it trains (softmax regression and ReLU MLPs, batched
over the α path), the dropout ensembler, weight scaling and the Monte Carlo and exact
inference strategies (every mask, weighted by p(μ)), the gap metrics and the figures.
"""

"""Bagging and other ensemble methods (§7.11): the bagging ensembler, the inference
strategies that combine its members (arithmetic and geometric means, majority vote),
the error-moment metrics (v/k + (k−1)c/k), the figures, and regression trees.
"""

"""Data sets: the problems every study runs on — synthetic linear regression (designs with a
controlled Hessian), a CSV table (data/diabetes.csv ships), synthetic softmax
classification, Friedman's regression benchmarks and a teacher network.
"""

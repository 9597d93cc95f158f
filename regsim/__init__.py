"""regsim: simulate the regularisation methods of *Deep Learning*, chapter 7.

The public API, for notebooks, other Prefect flows and plugin authors::

    import regsim
    spec = regsim.load_spec("examples/l2_shrinkage.yaml")   # or a dict
    summary = regsim.run_sweep(spec, out="data/results")    # a Prefect flow run
    df = regsim.open_results(summary["run_dir"])            # a pandas DataFrame

Plugins implement hooks with ``@regsim.hookimpl`` and subclass the component
protocols exported here.
"""

__version__ = "0.1.0"

#: Version of the plugin contract (hooks and protocols); plugins may require it.
PLUGIN_API_VERSION = 1

from .components import (  # noqa: E402
    COLUMN_TYPES,
    CentredData,
    Component,
    Dataset,
    Ensemble,
    Ensembler,
    Evaluation,
    Fit,
    InferenceStrategy,
    Learner,
    LinearFit,
    Metric,
    Penalty,
    Plot,
    Problem,
    Quadratic,
    smooth_gradient_refusal,
)
from .hookspecs import hookimpl  # noqa: E402
from .input_checks import DataError, check_dataset, check_matrix, first_rows  # noqa: E402
from .params import REQUIRED, Param, SpecError  # noqa: E402
from .registry import RegistryError, get_registry  # noqa: E402
from .spec import Cell, Spec, load_spec  # noqa: E402
from .api import open_results, run_sweep  # noqa: E402

__all__ = [
    "__version__", "PLUGIN_API_VERSION", "hookimpl",
    "Param", "REQUIRED", "SpecError", "RegistryError", "get_registry",
    "Component", "Problem", "Learner", "Penalty", "Ensembler", "Ensemble", "InferenceStrategy",
    "Metric", "Plot", "Dataset", "CentredData", "Quadratic", "Fit", "LinearFit", "Evaluation",
    "COLUMN_TYPES", "smooth_gradient_refusal", "Spec", "Cell", "load_spec", "run_sweep", "open_results",
    "DataError", "check_dataset", "check_matrix", "first_rows",
]

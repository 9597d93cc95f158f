"""The protocols every plugin component implements, and the data they pass around.

Every component is a class with a unique ``name`` and a declared ``params``
schema (see :mod:`regsim.params`). Components are built from validated spec
parameters; *path* parameters (``Param(path=True)``) arrive as ``(m,)`` arrays,
one entry per cell of a batched group, so a whole α path is one computation.

Shapes used throughout
----------------------
``d`` features, ``m`` cells in a batched group (one column per α), ``n`` rows.
Weights ``W`` are ``(d, m)``; predictions are ``(n, m)`` for regression and
``(n, m, C)`` class probabilities for classification.

Conventions
-----------
* Least squares loss ``J(w) = (1/2n) ||y - X w||²``, so ``H = XᵀX / n`` and α is
  scikit-learn's ``Lasso``/``ElasticNet`` α (``Ridge``'s α is ``n·α``).
* An intercept is fitted unpenalised by centring (:meth:`Dataset.centred`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from .params import Param, SpecError, validate_params

__all__ = [
    "Component",
    "Dataset",
    "CentredData",
    "Quadratic",
    "Problem",
    "Penalty",
    "Fit",
    "LinearFit",
    "Learner",
    "Ensemble",
    "Ensembler",
    "InferenceStrategy",
    "Evaluation",
    "Metric",
    "Plot",
    "COLUMN_TYPES",
    "conditions_hold",
    "smooth_gradient_refusal",
]

#: Column types a metric may declare, and how they are stored in Parquet.
COLUMN_TYPES = ("float", "int", "str", "bool", "list")


class Component:
    """Base of every plugin component.

    Subclasses set ``name`` and ``params``. ``Component(**values)`` validates
    scalar values against the schema; for a path parameter an array is accepted
    and every entry is validated.
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    #: Component kind, set on the base classes below ("problem", "penalty", ...).
    kind: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        scalars = {k: v for k, v in values.items() if not isinstance(v, np.ndarray)}
        schema = {k: p for k, p in self.params.items() if k in scalars or k not in values}
        checked = validate_params(self.kind or self.name, schema, scalars)
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                param = self.params.get(key)
                if param is None or not param.path:
                    raise SpecError(f"{self.kind}.{key}: only path parameters may be arrays")
                for v in value.ravel().tolist():
                    param.check(f"{self.kind}.{key}", v)
                checked[key] = value
        self.values = checked
        for key, value in checked.items():
            setattr(self, key, value)

    @classmethod
    def check_cell(cls, components: dict) -> str | None:
        """``None`` if this component can run in a cell with these ``components``, else why not.

        Called at spec validation for every cell with the cell's concrete
        components (slot -> ``{"plugin": name, **params}`` or ``None``), for
        limits that depend on other slots and are known before anything runs.
        """
        return None

    @property
    def batch_size(self) -> int:
        """``m``: the length of the path-parameter arrays (1 when all are scalars)."""
        sizes = [np.size(v) for k, v in self.values.items() if self.params[k].path]
        return max(sizes, default=1)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({args})"

    def __reduce__(self):
        # Plain-value pickling: process and Dask workers rebuild components.
        return (_rebuild, (type(self), self.values))


def _rebuild(cls, values):
    return cls(**values)


# --------------------------------------------------------------------------- data


@dataclass
class CentredData:
    """Training data centred so that an unpenalised intercept drops out."""

    X: np.ndarray
    y: np.ndarray
    x_mean: np.ndarray
    y_mean: float | np.ndarray

    @property
    def n(self) -> int:
        return self.X.shape[0]

    def intercept(self, W: np.ndarray) -> np.ndarray:
        """Intercepts ``(m,)`` for weights ``W (d, m)`` fitted on centred data."""
        return self.y_mean - self.x_mean @ W

    @cached_property
    def quadratic(self) -> "Quadratic":
        """The least-squares quadratic model, computed once per problem instance."""
        return Quadratic.least_squares(self)


@dataclass
class Dataset:
    """What a problem generates: a train/test split and what is known of the truth.

    A problem's ``generate(rng)`` returns one; learners, ensemblers and
    metrics read it. Rows are examples, columns features; ``n`` is the number
    of training rows, ``n_test`` of test rows, ``d`` of features.

    Attributes
    ----------
    X_train : ndarray of float, shape (n, d)
        Training features, finite. Not centred: learners fit an unpenalised
        intercept through :attr:`centred`.
    y_train : ndarray, shape (n,)
        Training targets: floats for ``task="regression"``; integer class
        indices ``0 .. n_classes - 1`` for ``task="classification"``.
    X_test : ndarray of float, shape (n_test, d)
        Held-out features, the same ``d`` columns as ``X_train``.
    y_test : ndarray, shape (n_test,)
        Held-out targets, same convention as ``y_train``.
    w_true : ndarray or None, default None
        The generating weights when the problem is synthetic and linear:
        shape ``(d,)`` for regression (``y = X w_true + noise``), ``(d, C)``
        for a linear classification teacher; ``None`` for real data and
        nonlinear teachers. Metrics such as ``weight_error`` need it.
    task : {"regression", "classification"}, default "regression"
        What the targets are. Learners and inference strategies declare the
        tasks they handle (``tasks``); predictions are ``(n, m)`` for
        regression and class probabilities ``(n, m, C)`` for classification.
    n_classes : int or None, default None
        ``C``, the number of classes (>= 2) for classification, else ``None``.
        Every class index below it is a valid label, even if absent from a split.
    info : dict, default {}
        Anything else worth recording about the instance. Keys used by the
        core and the built-ins:

        ``features``
            list of ``d`` column names (the ``csv`` problem); input checks
            name offending columns with them (``x0, x1, ...`` otherwise).
        ``path``
            the data file a ``csv`` problem read.
        ``design``, ``spectrum``
            ``linear_regression``: the design and the ``(d,)`` population
            covariance eigenvalues.
        ``function``, ``noise``
            ``friedman``: the benchmark function and noise level.
        ``teacher_sizes``, ``bayes_accuracy``
            ``teacher_mlp``: the teacher's layer sizes and the accuracy of
            the Bayes classifier on the test split.

    Notes
    -----
    :attr:`n_features` is ``d``; :attr:`centred` gives the training data
    centred (``X - x_mean``, ``y - y_mean``) so that an unpenalised intercept
    drops out, and its least-squares :class:`Quadratic` (``H = XcᵀXc / n``).
    All randomness a problem uses must come from the ``rng`` it is given.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    w_true: np.ndarray | None = None
    task: str = "regression"
    n_classes: int | None = None
    info: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @cached_property
    def centred(self) -> CentredData:
        x_mean = self.X_train.mean(axis=0)
        y_mean = self.y_train.mean(axis=0)
        return CentredData(self.X_train - x_mean, self.y_train - y_mean, x_mean, y_mean)


class Quadratic:
    """The quadratic model of ``J`` at its minimiser: Hessian ``H`` and ``w*``.

    For least squares on centred data ``H = XcᵀXc / n`` and ``w* = argmin J``
    (minimum-norm when ``H`` is singular). The eigendecomposition
    ``H = Q Λ Qᵀ`` is computed once and shared by every α of a path.
    """

    def __init__(self, H: np.ndarray, w_star: np.ndarray, c: np.ndarray | None = None,
                 j0: float = 0.0):
        self.H = H
        self.w_star = w_star
        self.c = H @ w_star if c is None else c  # the linear term of J: Xcᵀyc / n
        self.j0 = j0  # J(0) = ||yc||² / 2n

    def loss(self, W: np.ndarray) -> np.ndarray:
        """``J`` per column of ``W (d, m)``: ½wᵀHw − cᵀw + J(0)."""
        return 0.5 * np.sum(W * (self.H @ W), axis=0) - self.c @ W + self.j0

    def grad(self, W: np.ndarray) -> np.ndarray:
        """∇J per column, ``(d, m)``."""
        return self.H @ W - self.c[:, None]

    @classmethod
    def least_squares(cls, data: CentredData) -> "Quadratic":
        n = data.n
        H = data.X.T @ data.X / n
        c = data.X.T @ data.y / n
        q = cls(H, np.zeros_like(c), c, j0=float(data.y @ data.y) / (2 * n))
        lam, Q = q.eig
        # w* = Q Λ⁺ Qᵀ c; tiny eigenvalues (rank deficiency) give the minimum-norm solution.
        keep = lam > lam.max() * H.shape[0] * np.finfo(float).eps
        proj = Q.T @ c
        q.w_star = Q @ np.where(keep, proj / np.where(keep, lam, 1.0), 0.0)
        return q

    @cached_property
    def eig(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues ``(d,)`` ascending and eigenvectors ``(d, d)`` of ``H``."""
        lam, Q = np.linalg.eigh(self.H)
        return np.clip(lam, 0.0, None), Q


# --------------------------------------------------------------------------- components


class Problem(Component):
    """Generates a :class:`Dataset` from a random generator (the cell's problem seed).

    Capabilities: ``task`` declares the task of the datasets it generates
    (``"regression"`` or ``"classification"``), or ``task_param`` names the
    parameter that chooses it (the ``csv`` problem's ``task``). Spec validation
    checks every learner, ensembler, inference strategy and listed metric of
    a spec against it; a problem that declares neither is not checked.
    """

    kind = "problem"
    #: The task of the generated :class:`Dataset` (``None``: not declared, not checked).
    task: ClassVar[str | None] = None
    #: The parameter whose value is the task, when a parameter chooses it.
    task_param: ClassVar[str | None] = None

    @classmethod
    def task_for(cls, params: dict) -> str | None:
        """The task this problem produces with these parameters (defaults filled in)."""
        if cls.task_param is not None:
            value = params.get(cls.task_param)
            return cls.params[cls.task_param].default if value is None else value
        return cls.task

    def generate(self, rng: np.random.Generator) -> Dataset:
        raise NotImplementedError


class Penalty(Component):
    """A parameter-norm penalty Ω, vectorised over the hyper-parameter path.

    Hyper-parameters are path parameters: each is an ``(m,)`` array (or a
    scalar broadcasting to every column). Weights are ``(d, m)``.

    Required: ``value``, ``grad``, ``prox``. Optional: ``theory``.

    ``smooth`` declares that ``grad`` is the gradient of a continuously
    differentiable Ω (L2, none). Learners that step along ``grad`` with a fixed
    step (``gradient_descent``) only accept penalties that declare it; the
    default ``False`` is the safe one for a penalty that does not say, which
    still works with ``proximal_gradient`` through its ``prox``.
    """

    kind = "penalty"
    smooth: ClassVar[bool] = False

    def value(self, W: np.ndarray) -> np.ndarray:
        """Penalty value per column, ``(m,)``."""
        raise NotImplementedError

    def grad(self, W: np.ndarray) -> np.ndarray:
        """A (sub)gradient of Ω, ``(d, m)``."""
        raise NotImplementedError

    def prox(self, V: np.ndarray, step: float | np.ndarray) -> np.ndarray:
        """``argmin_W  Ω(W) + ||W - V||² / (2 step)`` column by column, ``(d, m)``."""
        raise NotImplementedError

    def theory(self, quadratic: Quadratic) -> np.ndarray | None:
        """The seed's prediction of the regularised optimum ``(d, m)``, or ``None``."""
        return None


def smooth_gradient_refusal(penalty: type[Penalty], method: str, instead: str) -> str | None:
    """Why a fixed-step gradient method cannot minimise with ``penalty``, or ``None``.

    The penalty must define ``grad`` and declare ``smooth = True``: on a kink
    (|w| at 0) fixed-size (sub)gradient steps never settle and never give
    exact zeros, so the stored weights would claim a solution they are not.
    For a learner's :meth:`Learner.accepts`; ``method`` names the iteration and
    ``instead`` says what to use.
    """
    if getattr(penalty, "grad") is getattr(Penalty, "grad"):
        return "the penalty defines no grad()"
    if getattr(penalty, "smooth", False) is not True:
        return (f"{method} takes fixed-size (sub)gradient steps, which do not converge on a "
                f"non-smooth penalty ({penalty.name!r} does not declare smooth = True); {instead}")
    return None


@dataclass
class Fit:
    """What a learner returns for a batch of ``m`` cells.

    ``status`` holds, per column, one of

    * ``"ok"``: the learner met its stated optimality tolerance (its measure,
      e.g. a relative duality gap or proximal-gradient residual, belongs in
      ``columns["optimality"]``), so the weights are the optimum's;
    * ``"not_converged"``: it stopped above that tolerance; ``message`` quotes
      the measure and the tolerance. Metrics are not stored, the learner's own
      ``columns`` are, and a resumed sweep runs the cell again;
    * ``"diverged"``: the iterates blew up; ``message`` quotes the step-size
      bound that applies to the penalty in use. Final: kept on resume.

    ``message`` is a reason for anything but ok. ``columns`` may carry extra
    per-column values (``optimality``, ``n_iter``, ``duality_gap``) that end up
    as result columns.
    """

    m: int
    status: np.ndarray = None  # type: ignore[assignment]
    message: list = None  # type: ignore[assignment]
    columns: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status is None:
            self.status = np.full(self.m, "ok", dtype=object)
        if self.message is None:
            self.message = [None] * self.m

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions ``(n, m)`` (regression) or probabilities ``(n, m, C)``."""
        raise NotImplementedError

    def take(self, index: np.ndarray) -> "Fit":
        """The fit for cells ``index``: column ``i`` of the result is column ``index[i]``.

        ``index`` is an ``(m',)`` int array; entries may repeat. Optional: the
        runner calls it to let the inference strategies of one fit group read
        one fit (``Cell.fit_group``); a fit that does not override it is fitted
        again for each strategy. The result must predict, for every column,
        exactly what a fit made for those cells alone would, and should share
        caches with ``self``. :meth:`taken_fields` gives the base fields.
        """
        raise NotImplementedError(f"{type(self).__name__} does not select columns")

    def taken_fields(self, index: np.ndarray) -> dict[str, Any]:
        """``m``, ``status``, ``message`` and ``columns`` restricted to ``index``."""
        index = np.asarray(index, dtype=int)
        return {
            "m": len(index),
            "status": np.asarray(self.status, dtype=object)[index],
            "message": [self.message[i] for i in index],
            "columns": {k: (np.asarray(v)[index] if isinstance(v, np.ndarray)
                            else [v[i] for i in index]) for k, v in self.columns.items()},
        }


@dataclass
class LinearFit(Fit):
    """A linear model per column: ``predict(X) = X W + intercept``."""

    W: np.ndarray = None  # type: ignore[assignment]
    intercept: np.ndarray = None  # type: ignore[assignment]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.W + self.intercept


class Learner(Component):
    """Fits a model for every column of a penalty batch at once."""

    kind = "learner"
    #: The Dataset tasks this learner handles (checked against the problem's task).
    tasks: ClassVar[tuple[str, ...]] = ("regression",)
    #: Extra result columns its fits carry in ``Fit.columns`` (name -> COLUMN_TYPES entry).
    columns: ClassVar[dict[str, str]] = {}

    @classmethod
    def accepts(cls, penalty: type[Penalty]) -> str | None:
        """``None`` if this learner can fit with ``penalty``, else the reason why not."""
        return None

    def fit(self, data: Dataset, penalty: Penalty, rng: np.random.Generator) -> Fit:
        """Fit every column of ``penalty``; ``rng`` is the cell's learner generator."""
        raise NotImplementedError

    def quadratic(self, data: Dataset) -> Quadratic | None:
        """The quadratic model of this learner's unregularised loss, if it is quadratic."""
        return None

    def fit_resamples(self, data: Dataset, counts: np.ndarray, penalty: Penalty) -> Fit | None:
        """Optionally fit ``K`` resamples of the training rows in one batched computation.

        Parameters
        ----------
        counts : ndarray of int, shape (K, n)
            How often each training row appears in resample ``r`` (bootstrap
            multiplicities; 0/1 for subsamples without replacement).

        Returns
        -------
        Fit or None
            A fit with ``K·m`` columns, column ``r·m + j`` being resample ``r``
            with penalty column ``j``, equal to ``fit`` on the training rows
            repeated ``counts[r]`` times; or ``None`` (the default) when the
            learner has no batched path, so ensemblers loop over resamples
            calling :meth:`fit`. Only deterministic learners implement it.
        """
        return None


@dataclass
class Ensemble(Fit):
    """What an ensembler builds for ``m`` cells; inference strategies combine it.

    ``kind`` names the family (``"bagging"``, ``"dropout"``) that an ensembler
    ``produces`` and a strategy ``accepts``. Status, messages and extra
    columns work as for :class:`Fit`. An ensemble never predicts by itself:
    :meth:`predict` raises, and a strategy's ``predict(ensemble, X)`` returns
    ``(n, m)`` predictions or ``(n, m, C)`` class probabilities.

    What a strategy may call depends on ``kind``:

    ``"bagging"`` (and any kind made of separately trained members)
        The *member protocol*, declared here: :meth:`member_predictions`
        ``(n, K, m[, C])`` and :meth:`member_mask` ``(K, m)``. The
        built-in ``bagging`` ensembler trains ``K = max k`` members and column
        ``j`` uses the first ``k[j]`` (the ensemble-size path), so its mask is
        a prefix and the ensemble also carries ``k``, an ``(m,)`` int array
        equal to ``member_mask().sum(axis=0)``. A strategy must combine, for
        column ``j``, exactly the members ``r`` with ``member_mask()[r, j]``
        (``regsim.testing`` checks that members outside the mask do not
        change the result).
    ``"dropout"``
        One network with shared parameters stands for ``2^k`` sub-networks,
        too many to list as members, so :meth:`member_predictions` is not
        implemented. A strategy may use ``ensemble.network`` (its
        ``predict_proba(X)`` gives ``(n, u, C)`` for the ``u`` distinct
        trained networks; ``weights[l]`` ``(u, d_l, d_{l+1})``, ``biases[l]``),
        ``ensemble.index`` (``(m,)``: column ``j`` uses network
        ``index[j]``), ``ensemble.drop_of(u)`` (DROP probability of the inputs
        of each layer of network ``u``; drop probabilities are path parameters,
        so the networks of one ensemble may differ), ``ensemble.drop`` (the
        same list when every network shares it, else ``None``; ``ensemble.keep``
        is ``1 - drop``), ``ensemble.column(u)`` (plain weights and biases of
        network ``u``) and ``ensemble.mask_seed_of(u)`` (an int seeding Monte
        Carlo masks; ``ensemble.mask_seed`` is network 0's). Training used
        inverted dropout (kept units scaled by ``1/keep``).
    """

    kind: str = ""

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise TypeError("an ensemble predicts through an inference strategy")

    def member_predictions(self, X: np.ndarray) -> np.ndarray:
        """Every member's prediction for every column.

        Parameters
        ----------
        X : ndarray of float, shape (n, d)

        Returns
        -------
        ndarray, shape (n, K, m) or (n, K, m, C)
            Entry ``[:, r, j]`` is member ``r``'s prediction for column ``j``
            (regression), or its class probabilities ``[:, r, j, :]`` summing
            to one (classification). ``K`` is the number of members trained per
            column; entries of members outside :meth:`member_mask` are defined
            but must not be used.
        """
        raise NotImplementedError(f"{self.kind or type(self).__name__} ensembles do not expose "
                                  f"members (see regsim.Ensemble for what a strategy may call)")

    def member_mask(self) -> np.ndarray:
        """Which members make up each column's ensemble.

        Returns
        -------
        ndarray of bool, shape (K, m)
            ``True`` where member ``r`` belongs to the ensemble of column ``j``;
            every column has at least one member.
        """
        raise NotImplementedError(f"{self.kind or type(self).__name__} ensembles do not expose "
                                  f"members (see regsim.Ensemble for what a strategy may call)")


class Ensembler(Component):
    """Builds an :class:`Ensemble` from a learner and a penalty batch."""

    kind = "ensembler"
    #: The ensemble kind this ensembler produces.
    produces: ClassVar[str] = ""
    #: Dataset tasks it can build ensembles for.
    tasks: ClassVar[tuple[str, ...]] = ("regression", "classification")
    #: Extra result columns its ensembles carry in ``Ensemble.columns``.
    columns: ClassVar[dict[str, str]] = {}

    @classmethod
    def accepts_learner(cls, learner: type[Learner]) -> str | None:
        """``None`` if this ensembler can build on ``learner``, else the reason why not."""
        return None

    def fit(self, data: Dataset, learner: Learner, penalty: Penalty,
            rng: np.random.Generator) -> Ensemble:
        raise NotImplementedError


class InferenceStrategy(Component):
    """Combines an ensemble's members into predictions ``(n, m)`` or ``(n, m, C)``."""

    kind = "inference"
    #: Ensemble kinds this strategy can combine.
    accepts: ClassVar[tuple[str, ...]] = ()
    #: Dataset tasks it can predict for (majority votes need classes); checked at validation.
    tasks: ClassVar[tuple[str, ...]] = ("regression", "classification")

    def predict(self, ensemble: Ensemble, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Evaluation:
    """Everything a metric may look at for one batched group of ``m`` cells.

    Attributes are computed lazily and shared by all metrics of the group.
    """

    def __init__(self, data: Dataset, learner: Learner, penalty: Penalty, fit: Fit | None,
                 ensemble: Ensemble | None = None, inference: InferenceStrategy | None = None):
        self.data = data
        self.learner = learner
        self.penalty = penalty
        self.fit = fit
        self.ensemble = ensemble
        self.inference = inference
        self.m = fit.m if fit is not None else None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions of what was trained: the ensemble through its inference strategy if any."""
        if self.ensemble is not None:
            return self.inference.predict(self.ensemble, X)
        return self.fit.predict(X)

    @cached_property
    def test_prediction(self) -> np.ndarray:
        return self.predict(self.data.X_test)

    @cached_property
    def train_prediction(self) -> np.ndarray:
        return self.predict(self.data.X_train)

    @cached_property
    def quadratic(self) -> Quadratic | None:
        return self.learner.quadratic(self.data)

    @cached_property
    def theory(self) -> np.ndarray | None:
        """The penalty's prediction of the weights ``(d, m)``, or ``None``."""
        if self.quadratic is None:
            return None
        W = self.penalty.theory(self.quadratic)
        return None if W is None else np.broadcast_to(W, (self.data.n_features, self.m))

    @property
    def weights(self) -> np.ndarray | None:
        """Fitted weights ``(d, m)`` of a linear fit, else ``None``."""
        return getattr(self.fit, "W", None)


#: The component slots a theory's conditions may name (as in a spec).
CONDITION_SLOTS = ("problem", "learner", "penalty", "ensembler", "inference")


def _alternatives(conditions) -> tuple[dict, ...]:
    return (conditions,) if isinstance(conditions, dict) else tuple(conditions)


def _matches(value: Any, allowed) -> bool:
    if isinstance(allowed, (str, bytes)) or not hasattr(allowed, "__iter__"):
        allowed = (allowed,)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return any(a is None for a in allowed)
    return any(a is not None and value == a for a in allowed)


def conditions_hold(conditions, where: Mapping[str, Any]) -> bool:
    """Whether a theory's declared ``conditions`` hold for one cell described by ``where``.

    Parameters
    ----------
    conditions : dict or sequence of dicts
        One dict is a conjunction: every key must take one of its allowed
        values. A sequence of dicts is a disjunction: any one dict suffices.
        Keys are a component slot (``"problem"``, ``"learner"``, ``"penalty"``,
        ``"ensembler"``, ``"inference"``; the value is the plugin name, ``None``
        for an empty slot), a parameter column ``"<slot>.<param>"`` (its value
        in the cell), or ``"task"`` (the problem's task, ``"regression"`` or
        ``"classification"``). Allowed values are a tuple (or one value).
    where : mapping
        The cell: the same keys with the cell's values; a key absent from it is ``None``.

    Examples
    --------
    >>> conditions_hold({"inference": ("arithmetic_mean",)}, {"inference": "median"})
    False
    >>> conditions_hold([{"inference": ("arithmetic_mean",)},
    ...                  {"inference": ("geometric_mean",), "task": ("regression",)}],
    ...                 {"inference": "geometric_mean", "task": "regression"})
    True
    """
    return any(all(_matches(where.get(key), allowed) for key, allowed in alt.items())
               for alt in _alternatives(conditions))


class Metric(Component):
    """Computes result columns for a group of cells.

    ``columns`` maps each output column to one of ``COLUMN_TYPES``; ``compute``
    returns, per column, a length-``m`` sequence (``None``/NaN where it does not
    apply; ``list`` columns hold one list of floats per cell).

    Theory columns say where they hold in ``holds_for``: column -> conditions
    (see :func:`conditions_hold`), e.g. ``{"bagging_theory": {"inference":
    ("arithmetic_mean",)}}``. The runner stores such a column only in cells
    where its conditions hold and null everywhere else, whatever ``compute``
    returned; ``regsim report`` draws and states it only from those rows. A
    column not named in ``holds_for`` holds wherever ``compute`` fills it.
    Override :meth:`holds` for a condition that is not a list of names.
    """

    kind = "metric"
    columns: ClassVar[dict[str, str]] = {}
    #: Where each theory column holds: column -> conditions (dict, or tuple of dicts: any).
    holds_for: ClassVar[dict[str, Any]] = {}
    #: Dataset tasks it measures; a spec that lists it where no problem has one is refused.
    tasks: ClassVar[tuple[str, ...]] = ("regression", "classification")
    #: Computed when a spec lists no ``metrics``.
    default: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # a misspelt declaration would silently never null anything: refuse it at import
        for column, conditions in cls.holds_for.items():
            if column not in cls.columns:
                raise TypeError(f"metric {cls.name or cls.__name__!r}: holds_for names "
                                f"{column!r}, not one of its columns {sorted(cls.columns)}")
            for alt in _alternatives(conditions):
                if not isinstance(alt, dict):
                    raise TypeError(f"metric {cls.name or cls.__name__!r}: holds_for[{column!r}] "
                                    f"must be a dict or a tuple of dicts, got {alt!r}")
                for key in alt:
                    if key != "task" and key.split(".", 1)[0] not in CONDITION_SLOTS:
                        raise TypeError(
                            f"metric {cls.name or cls.__name__!r}: holds_for[{column!r}] key "
                            f"{key!r} is not 'task', a slot ({', '.join(CONDITION_SLOTS)}) "
                            f"or '<slot>.<param>'")

    @classmethod
    def holds(cls, column: str, where: Mapping[str, Any]) -> bool:
        """Whether ``column`` holds in the cell ``where`` describes (:func:`conditions_hold`)."""
        conditions = cls.holds_for.get(column)
        return True if conditions is None else conditions_hold(conditions, where)

    def compute(self, ev: Evaluation) -> dict[str, Any]:
        raise NotImplementedError


class Plot:
    """A figure for ``regsim report``.

    ``applies(df)`` says whether the result set has what the figure needs;
    ``draw(df, out_dir)`` writes PNG files and returns their paths.

    A figure that draws a theory says where it holds: ``theory_columns`` names
    the metric columns whose ``Metric.holds_for`` conditions apply to the
    figure, ``holds_for`` adds conditions of its own (same form). ``regsim
    report`` and :class:`regsim.report.FigureDisplay` then pass the figure only
    the rows where all of them hold (and skip it when there are none).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: Metric columns whose declared conditions restrict the rows this figure sees.
    theory_columns: ClassVar[tuple[str, ...]] = ()
    #: Conditions of the figure's own (see :func:`conditions_hold`); ``None``: every row.
    holds_for: ClassVar[Any] = None

    def applies(self, df) -> bool:
        raise NotImplementedError

    def draw(self, df, out_dir) -> list:
        raise NotImplementedError

"""Random hyper-parameter search (Lucic et al. 2018, "Are GANs created equal?"): the `search:`
block of a suite, its space, and the trials that Optuna's seeded samplers draw from it. Each trial
is an ordinary model variant: crossed with data sets and seeds, run, stored and shown like any."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import math
import warnings
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from genbench.registry import MODELS, UnknownName

KINDS = ("loguniform", "uniform", "int", "choice")  # int: integers in [low, high], both included
MAX_TRIALS = 1000
SCALARS = (str, int, float, bool, type(None))


class SearchBlock(BaseModel):
    """One `search:` mapping; a model entry's keys override the suite's top-level block."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trials: int | None = Field(None, gt=0, le=MAX_TRIALS)  # configurations drawn per method
    seed: StrictInt | None = Field(None, ge=0, lt=2**32)  # the sampler's seed (default 0)
    sampler: Literal["random", "sobol"] | None = None  # Optuna's RandomSampler (default) or QMCSampler
    space: dict[str, Any] = {}
    scheduler: Literal["asha"] | None = None  # successive halving on the primary metric (driver.scheduler)
    reduction: int | None = Field(None, ge=2, le=100)  # its eta: 1/eta of a rung's trials go on (default 3)
    min_steps: int | None = Field(None, gt=0)  # its first rung (default: eval.every)


def searched(suite) -> bool:
    """Whether the suite has a top-level search or any model entry has one."""
    return suite.search is not None or any("search" in e for e in suite.models)


def _block(raw: Any, loc: tuple, errors) -> SearchBlock | None:
    if not isinstance(raw, dict):
        errors.add(loc, "a search is a mapping: {trials: N, seed: S, space: {key: {loguniform: [lo, hi]}}}")
        return None
    try:
        return SearchBlock(**raw)
    except ValidationError as exc:
        errors.add_validation(loc, exc, SearchBlock)
        return None


def distribution(spec: Any):
    """The Optuna distribution of one space entry, e.g. {loguniform: [1e-5, 1e-2]}; ValueError
    with the problem otherwise."""
    from optuna.distributions import (  # optuna costs ~0.5 s: only for suites with a search
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(
            f"give one distribution of {', '.join(KINDS)}, e.g. {{loguniform: [1.0e-5, 1.0e-2]}}"
        )
    kind, args = next(iter(spec.items()))
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind), KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown distribution {kind!r}{hint}; known: {', '.join(KINDS)}")
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ValueError("choice needs a non-empty list of values")
        if not all(isinstance(v, SCALARS) for v in args):
            raise ValueError("choice values must be numbers, strings, booleans or null")
        repeated = [v for i, v in enumerate(args) if v in args[:i]]
        if repeated:
            raise ValueError(f"choice lists {repeated[0]!r} twice")
        return CategoricalDistribution(args)
    number = int if kind == "int" else (int, float)
    if not (isinstance(args, list) and len(args) == 2 and all(_is(v, number) for v in args)):
        what = "integers" if kind == "int" else "finite numbers"
        raise ValueError(f"{kind} needs [low, high], two {what}")
    low, high = args
    if low > high:
        raise ValueError(f"low {low} > high {high}")
    if kind == "int":
        return IntDistribution(low, high)
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"loguniform needs low > 0 (got {low})")
    return FloatDistribution(float(low), float(high), log=kind == "loguniform")


def _is(value: Any, types) -> bool:
    return isinstance(value, types) and not isinstance(value, bool) and math.isfinite(value)


def sample(distributions: dict[str, Any], trials: int, seed: int, sampler: str = "random") -> list[dict]:
    """`trials` configurations drawn from the space by Optuna's seeded sampler: RandomSampler
    (independent uniform draws) or QMCSampler (scrambled Sobol; its first trial and its choice keys
    are drawn by the random sampler); the same arguments give the same list on every machine."""
    import optuna  # optuna costs ~0.5 s: only for suites with a search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if sampler == "sobol":
            chosen = optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
        else:
            chosen = optuna.samplers.RandomSampler(seed=seed)
        study = optuna.create_study(sampler=chosen)  # in memory: only its ask() is used
        return [study.ask(distributions).params for _ in range(trials)]


def method_seed(seed: int, method: str) -> int:
    """The sampler seed of one method: the search seed mixed with the method's name, so that
    methods draw independent trials (the best-of-k comparison treats them as independent)."""
    digest = hashlib.sha256(f"{seed}:{method}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def resolve_models(suite, errors) -> tuple[list[tuple], dict[tuple, dict]]:
    """The model variants of a suite with searches: per entry (and per combination of its list
    values, each a method) one variant per distinct sampled configuration. Returns the variants as
    (name, hparams, variant label) and, by (name, label), what the variant is in its search."""
    top = _block(suite.search, ("search",), errors) if suite.search is not None else None
    variants, trials_of, counts, methods, schedules = [], {}, {}, {}, {}
    for i, entry in enumerate(suite.models):
        found = _entry_search(suite, top, i, entry, errors)
        if found is None:
            continue
        family, name, params, merged, space, trial_loc, block_loc, schedule_loc = found
        counts[i] = (merged["trials"], (*trial_loc, "trials"))
        schedules[i] = (_schedule(suite, merged, schedule_loc, errors), block_loc)
        distributions = _distributions(family, name, params, merged["space"], space, block_loc, errors)
        if distributions is None:
            continue
        failed = False
        for combo in itertools.product(*(v if isinstance(v, list) else [v] for v in params.values())):
            given = dict(zip(params, combo, strict=True))
            method = f"{name} {' '.join(f'{k}={v}' for k, v in given.items())}".strip()
            if method in methods:
                errors.add(("models", i), f"{method!r} is searched twice (also models[{methods[method]}])")
                break
            methods[method] = i
            if failed:
                continue
            seed = method_seed(merged["seed"], method)
            configs = sample(distributions, merged["trials"], seed, merged["sampler"])
            where = (family, name, i, space, errors)
            trials = _method_trials(where, method, given, configs, merged, seed, schedules[i][0])
            failed = trials is None
            for label, hp, trial in trials or []:
                variants.append((name, hp, label))
                trials_of[(name, label)] = trial
    _same_trials(counts, errors)
    _same_schedule(schedules, errors)
    return variants, trials_of


def _entry_search(suite, top, i: int, entry: dict, errors) -> tuple | None:
    """A model entry's family, name, fixed parameters, merged search block and the places of its
    keys (for messages); None when the entry or its search is invalid (problems in `errors`)."""
    params = dict(entry)
    name = params.pop("name", None)
    own_raw = params.pop("search", None)
    if not isinstance(name, str):
        errors.add(("models", i), "each entry needs a 'name'")
        return None
    try:
        family = MODELS.get(name)
    except UnknownName as exc:
        errors.add(("models", i, "name"), str(exc))
        return None
    own = _block(own_raw, ("models", i, "search"), errors) if own_raw is not None else None
    if (own_raw is not None and own is None) or (suite.search is not None and top is None):
        return None
    if own is None and top is None:
        errors.add(("models", i), "every method gets the same number of trials: give it a search")
        return None
    merged = _merge(top, own)
    where = {k: ("models", i, "search", "space", k) for k in (own.space if own else {})}
    space = {k: where.get(k, ("search", "space", k)) for k in merged["space"]}
    trial_loc = ("models", i, "search") if own and own.trials else ("search",)
    if merged["trials"] is None:
        errors.add(trial_loc, "a search needs 'trials' (here or in the suite's top-level search)")
        return None
    block_loc = ("models", i, "search") if own_raw is not None else ("search",)
    own_schedules = own is not None and {own.scheduler, own.reduction, own.min_steps} != {None}
    schedule_loc = ("models", i, "search") if own_schedules else ("search",)
    return family, name, params, merged, space, trial_loc, block_loc, schedule_loc


def _method_trials(where: tuple, method: str, given: dict, configs: list, merged: dict, seed, schedule):
    """One (label, hparams, search record) per distinct sampled configuration of a method; None
    when a configuration is invalid (problems in `errors`)."""
    family, name, i, space, errors = where
    by_config: dict[str, list[int]] = {}
    for t, config in enumerate(configs):
        by_config.setdefault(repr(sorted(config.items())), []).append(t)
    out = []
    for ts in by_config.values():
        config = configs[ts[0]]
        hp = _trial_hparams(family, given, config, ts[0], (i, space), errors)
        if hp is None:
            return None
        label = " ".join([method.removeprefix(name).strip(), "trial=" + ",".join(map(str, ts))])
        label += "".join(f" {k}={_fmt(v)}" for k, v in config.items())
        trial = {
            "method": method,
            "trials": ts,
            "of": merged["trials"],
            "seed": merged["seed"],
            "sampler_seed": seed,
            "sampler": merged["sampler"],
            "space": {k: next(iter(merged["space"][k])) for k in config},
            "values": config,
        } | ({"schedule": schedule} if schedule else {})
        out.append((label.strip(), hp, trial))
    return out


def _trial_hparams(family, given: dict, config: dict, trial: int, place: tuple, errors) -> dict | None:
    """The resolved hyper-parameters of one sampled configuration, or None (its problems, at the
    search-space key that caused them, in `errors`)."""
    i, space = place
    try:
        return family.hparams(**given, **config).model_dump(mode="json")
    except ValidationError as exc:
        if not any(e["loc"] and e["loc"][0] in config for e in exc.errors()):
            errors.add_validation(("models", i), exc, family.hparams)  # a fixed key
            return None
        for e in exc.errors():
            key = e["loc"][0] if e["loc"] else None
            loc = space[key] if key in space else ("models", i, *e["loc"])
            value = f" (trial {trial}: {config[key]!r})" if key in config else ""
            errors.add(loc, e["msg"].removeprefix("Value error, ") + value)
        return None


def _schedule(suite, merged: dict, loc: tuple, errors) -> dict | None:
    """The entry's early-stopping schedule, {scheduler, reduction, rungs}, or None without one;
    the rungs are the steps min_steps * reduction**i below the budget, then the budget."""
    if merged["scheduler"] is None:
        for key in ("reduction", "min_steps"):
            if merged[key] is not None:
                errors.add((*loc, key), f"{key!r} belongs to a scheduler: add 'scheduler: asha'")
        return None
    steps, every = suite.budget.steps, suite.eval.every
    if steps is None:
        errors.add((*loc, "scheduler"), "successive halving needs a steps budget (rungs are steps)")
        return None
    if not every:
        errors.add((*loc, "scheduler"), "successive halving needs eval.every: a rung is an evaluation")
        return None
    reduction, first = merged["reduction"] or 3, merged["min_steps"] or every
    if first % every or first >= steps:
        errors.add(
            (*loc, "min_steps"),
            f"min_steps {first} must be a multiple of eval.every ({every}) below the budget ({steps})",
        )
        return None
    rungs = [first]
    while rungs[-1] * reduction < steps:
        rungs.append(rungs[-1] * reduction)
    return {"scheduler": merged["scheduler"], "reduction": reduction, "rungs": [*rungs, steps]}


def _same_schedule(schedules: dict[int, tuple], errors) -> None:
    """Equal budgets: every method of a suite is stopped by the same schedule (or none is)."""
    distinct = {repr(s) for s, _ in schedules.values()}
    if len(distinct) > 1:
        first, (s0, _) = next(iter(schedules.items()))
        for schedule, loc in schedules.values():
            if schedule != s0:
                errors.add(
                    loc, f"its early stopping differs from models[{first}]'s: every method gets the same"
                )


def _merge(top: SearchBlock | None, own: SearchBlock | None) -> dict[str, Any]:
    """The entry's search: its own keys over the top-level block's, spaces merged key by key."""
    out = {"trials": None, "seed": 0, "sampler": "random", "space": {}}
    out |= {"scheduler": None, "reduction": None, "min_steps": None}
    for block in (top, own):
        if block is None:
            continue
        for key in ("trials", "seed", "sampler", "scheduler", "reduction", "min_steps"):
            if getattr(block, key) is not None:
                out[key] = getattr(block, key)
        out["space"] = {**out["space"], **block.space}
    return out


def _distributions(family, name: str, fixed: dict, space: dict, where: dict, block: tuple, errors):
    """Each searched key's Optuna distribution after checking it against the model's schema; None
    after adding the problems to `errors`."""
    out, ok = {}, True
    if not space:
        errors.add(block, "a search needs a 'space' with at least one key")
        return None
    known = list(family.hparams.model_fields)
    for key, spec in space.items():
        loc = where[key]
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.add(loc, f"{name} has no hyper-parameter {key!r}{hint}")
            ok = False
            continue
        if key in fixed:
            errors.add(loc, f"{key!r} is both set in the model entry and searched; give one")
            ok = False
            continue
        try:
            out[key] = distribution(spec)
        except ValueError as exc:
            errors.add(
                (*loc, next(iter(spec))) if isinstance(spec, dict) and len(spec) == 1 else loc, str(exc)
            )
            ok = False
            continue
        kind, args = next(iter(spec.items()))
        for value in args:  # both ends of a range, every choice: each must be a value the model takes
            try:
                family.hparams(**{key: value})
            except ValidationError as exc:
                errors.add((*loc, kind), f"{value!r} is not a valid {key}: {exc.errors()[0]['msg']}")
                ok = False
                break
    return out if ok else None


def _same_trials(counts: dict[int, tuple[int, tuple]], errors) -> None:
    """Equal budgets (Lucic et al.): every method of a suite gets the same number of trials."""
    if len({n for n, _ in counts.values()}) > 1:
        first, (n0, _) = next(iter(counts.items()))
        by_place = {loc: n for n, loc in counts.values()}  # entries that inherit the top-level count once
        for loc, n in by_place.items():
            if n != n0:
                errors.add(
                    loc, f"{n} trials, but models[{first}] has {n0}: every method gets the same number"
                )


def annotate(specs: list, trials_of: dict[tuple, dict]) -> list:
    """The run specs with their variant's place in its search (`RunSpec.search`)."""
    return [
        s.model_copy(update={"search": trials_of[(s.model, s.variant)]})
        if (s.model, s.variant) in trials_of
        else s
        for s in specs
    ]

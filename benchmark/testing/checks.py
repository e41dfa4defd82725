"""The conformance checks that need no engine run: spec, shapes, loss, optimiser, augmentation, determinism.

Each check takes the submission class and :class:`CheckOptions`, raises :class:`ConformanceFailure` with a message
saying what rule was broken and what was seen, and returns a one-line summary when the submission passes.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import torch

from benchmark.errors import BusbenchError
from benchmark.plugins.spec import ENGINE_DEFAULTS, ModelSpec, SearchParam
from benchmark.plugins.submission import Submission, TrainBatch, check_epoch_schedule, is_epoch_schedule
from benchmark.testing.inputs import (
    CheckOptions,
    ConformanceFailure,
    model_input,
    plugin_call,
    predict,
    random_images,
    seeded_build,
    tensors_in,
    train_batch,
)


def instantiate(cls: type[Submission], options: CheckOptions, classes: tuple[str, ...] | None = None) -> Submission:
    """The submission with the options' hyper-parameters, as ``busbench run --set`` would make it.

    Classification: the head is over ``classes`` (default: the first class set the spec declares).
    """
    if classes is None:
        classes = heads(cls)[0]
    return plugin_call(f"{cls.__name__}({options.hparams}, classes={classes})", cls, dict(options.hparams),
                       classes=classes)


def heads(cls: type[Submission]) -> tuple[tuple[str, ...], ...]:
    """The class sets a classification model declares it can be trained on; one empty set for segmentation."""
    return cls.spec.class_sets() or ((),)


def _head(submission: Submission) -> str:
    """Which head a message is about, for a model that declares more than one."""
    several = len(submission.spec.class_counts or ()) > 1
    return f" with a {submission.num_classes}-class head" if several else ""


# --- spec ------------------------------------------------------------------------------------------------------------
def _search_default_problem(name: str, param: SearchParam, value: Any) -> str | None:
    if param.kind == "categorical":
        return None if value in param.choices else f"default {name}={value!r} is not one of {list(param.choices)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"default {name}={value!r} is not a number but its search space is {param.kind}"
    if param.kind == "int" and not float(value).is_integer():
        return f"default {name}={value!r} is not an integer but its search space is int"
    if not param.low <= value <= param.high:  # type: ignore[operator]
        return f"default {name}={value!r} lies outside its search range [{param.low}, {param.high}]"
    return None


def check_spec(cls: type[Submission], options: CheckOptions) -> str:
    """Spec complete and valid; hyper-parameters and metadata JSON-ready; defaults inside the search space."""
    if not isinstance(cls, type) or not issubclass(cls, Submission):
        raise ConformanceFailure(f"{cls!r} is not a subclass of benchmark.plugins.Submission")
    spec = getattr(cls, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise ConformanceFailure(f"{cls.__name__}.spec is {type(spec).__name__}, not a ModelSpec")
    if cls.build_model is Submission.build_model:
        raise ConformanceFailure(f"{cls.__name__} does not implement build_model()")
    try:  # re-runs ModelSpec's own validation, in case fields were changed after construction
        dataclasses.replace(spec)
    except BusbenchError as exc:
        raise ConformanceFailure(f"spec is invalid: {exc}") from exc
    problems = []
    if not spec.authors or not all(isinstance(a, str) and a.strip() for a in spec.authors):
        problems.append("authors is empty (name who made the submission)")
    if not (spec.reference.strip() or spec.description.strip()):
        problems.append("neither reference nor description is given (cite the paper or describe the model)")
    if not spec.licence.strip():
        problems.append("licence is empty")
    if not isinstance(spec.input_size, int) or isinstance(spec.input_size, bool):
        problems.append(f"input_size {spec.input_size!r} is not an int")
    if len(spec.mean) not in (1, spec.in_channels) or len(spec.std) != len(spec.mean):
        problems.append(f"mean/std lengths {len(spec.mean)}/{len(spec.std)} do not fit in_channels {spec.in_channels}")
    hparams = spec.hparams()
    missing = set(ENGINE_DEFAULTS) - set(hparams)
    if missing:
        problems.append(f"hyper-parameters lack {sorted(missing)}")
    for name, param in spec.search_space.items():
        if name not in hparams:
            problems.append(f"search space names {name!r}, which has no default")
        elif not isinstance(param, SearchParam):
            problems.append(f"search space entry {name!r} is {type(param).__name__}, not a SearchParam")
        elif (problem := _search_default_problem(name, param, hparams[name])) is not None:
            problems.append(problem)
    try:
        doc = json.loads(json.dumps(spec.to_json(), allow_nan=False))
    except (TypeError, ValueError) as exc:
        problems.append(f"to_json() is not JSON-serialisable ({exc})")
    else:
        if doc.get("name") != spec.name or doc.get("defaults") != json.loads(json.dumps(hparams)):
            problems.append("to_json() does not round-trip the name and defaults")
    if problems:
        raise ConformanceFailure(f"spec {spec.name!r}: " + "; ".join(problems))
    submission = instantiate(cls, options)
    one_epoch = plugin_call(f"{cls.__name__}({{'epochs': 1}})", cls, {"epochs": 1})
    if one_epoch.hparams.get("epochs") != 1:
        raise ConformanceFailure("a hyper-parameter given to the constructor does not reach self.hparams")
    expected = {**hparams, **options.hparams}
    if submission.hparams != expected:
        raise ConformanceFailure(f"self.hparams is {submission.hparams}, expected the spec's defaults {expected}")
    return f"spec {spec.name!r} ({spec.task}, {spec.in_channels} ch, {len(spec.search_space)} searchable)"


# --- forward -----------------------------------------------------------------------------------------------------
def check_output_shapes(cls: type[Submission], options: CheckOptions) -> str:
    """Eval-mode outputs of the right shape at every size and for every declared head, finite; rows of probabilities."""
    for classes in heads(cls):
        submission = instantiate(cls, options, classes)
        _outputs_fine(submission, seeded_build(submission, options.seed), options)
    counts = "" if submission.spec.task != "classification" else (
        f", heads of {' and '.join(str(len(c)) for c in heads(cls))} classes")
    return f"{submission.spec.task} outputs fine at {', '.join(str(s) for s in options.sizes)} px{counts}"


def _outputs_fine(submission: Submission, model: torch.nn.Module, options: CheckOptions) -> None:
    for size in options.sizes:
        where = f"at {size} px{_head(submission)}"
        probs = predict(submission, model, random_images(options.batch, size, options.seed), where)
        if probs.min() < 0 or probs.max() > 1:
            raise ConformanceFailure(f"predict() {where} gave values outside [0, 1] "
                                     f"({float(probs.min()):.4g} to {float(probs.max()):.4g})")
        if submission.spec.task == "classification":
            sums = probs.sum(1)
            if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
                raise ConformanceFailure(f"predict() {where}: class probabilities do not sum to 1 per row "
                                         f"(sums {[round(float(s), 4) for s in sums]})")


# --- training hooks ----------------------------------------------------------------------------------------------
def _training_loss(submission: Submission, model: torch.nn.Module, batch: TrainBatch) -> torch.Tensor:
    model.train()
    batch = dataclasses.replace(batch, images=model_input(submission, batch.images))
    outputs = plugin_call("model forward in train mode", model, batch.images)
    for t in tensors_in(outputs):
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ConformanceFailure("model outputs in train mode contain NaN or infinite values")
    loss = plugin_call("loss()", submission.loss, outputs, batch)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ConformanceFailure(f"loss() must return a scalar tensor, returned {shape}")
    if not torch.isfinite(loss):
        raise ConformanceFailure(f"loss() is {float(loss.detach())} on a fresh model and an ordinary batch")
    if not loss.requires_grad:
        raise ConformanceFailure("loss() is not connected to the model's parameters (no gradient)")
    return loss


def check_loss_backward(cls: type[Submission], options: CheckOptions) -> str:
    """For every declared head, ``loss`` on a train-mode batch is a finite scalar with finite gradients."""
    done = []
    for classes in heads(cls):
        submission = instantiate(cls, options, classes)
        model = seeded_build(submission, options.seed)
        batch = train_batch(options.batch, options.sizes[0], options.seed, num_classes=submission.num_classes)
        loss = _training_loss(submission, model, batch)
        plugin_call("loss.backward()", loss.backward)
        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        head = _head(submission)
        if not grads:
            raise ConformanceFailure(f"loss.backward(){head} left every parameter without a gradient")
        if not all(torch.isfinite(g).all() for g in grads):
            raise ConformanceFailure(f"loss.backward(){head} gave NaN or infinite gradients")
        if all(float(g.abs().sum()) == 0 for g in grads):
            raise ConformanceFailure(f"every gradient of the loss{head} is zero")
        done.append(f"loss {float(loss.detach()):.4f}{head}")
    return f"{'; '.join(done)}, gradients on {len(grads)} parameter tensors"


def check_optimizer_step(cls: type[Submission], options: CheckOptions) -> str:
    """``configure_optimizers`` gives an optimiser over the model (and an optional schedule) that trains it."""
    submission = instantiate(cls, options)
    model = seeded_build(submission, options.seed)
    result = plugin_call("configure_optimizers()", submission.configure_optimizers, model, epochs=1,
                         steps_per_epoch=2)
    if not isinstance(result, tuple) or len(result) != 2:
        raise ConformanceFailure("configure_optimizers() must return (optimiser, schedule or None)")
    optimiser, schedule = result
    if not isinstance(optimiser, torch.optim.Optimizer):
        raise ConformanceFailure(f"configure_optimizers() returned {type(optimiser).__name__}, not an optimiser")
    if schedule is not None and not hasattr(schedule, "step"):
        raise ConformanceFailure(f"the schedule {type(schedule).__name__} has no step()")
    managed = {id(p) for group in optimiser.param_groups for p in group["params"]}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable or not any(id(p) in managed for p in trainable):
        raise ConformanceFailure("the optimiser holds none of the model's trainable parameters")
    before = [p.detach().clone() for p in trainable]
    batch = train_batch(options.batch, options.sizes[0], options.seed, num_classes=submission.num_classes)
    loss = _training_loss(submission, model, batch)
    optimiser.zero_grad(set_to_none=True)
    plugin_call("loss.backward()", loss.backward)
    plugin_call("optimiser.step()", optimiser.step)
    plugin_call("the schedule's mode", check_epoch_schedule, schedule)
    if is_epoch_schedule(schedule):
        plugin_call("schedule.step(score)", schedule.step, 0.5)
    elif schedule is not None:
        plugin_call("schedule.step()", schedule.step)
    if not all(torch.isfinite(p).all() for p in trainable):
        raise ConformanceFailure("parameters became NaN or infinite after an optimiser step")
    if all(torch.equal(a, p.detach()) for a, p in zip(before, trainable, strict=True)):
        raise ConformanceFailure("an optimiser step left every parameter unchanged")
    return f"{type(optimiser).__name__} + {type(schedule).__name__ if schedule is not None else 'no schedule'}"


def _augmented(submission: Submission, batch: TrainBatch, generator_seed: int, global_seed: int) -> TrainBatch:
    torch.manual_seed(global_seed)
    generator = torch.Generator().manual_seed(generator_seed)
    copy = TrainBatch(batch.images.clone(), batch.labels.clone(), None if batch.masks is None else batch.masks.clone())
    out = plugin_call("augment()", submission.augment, copy, generator)
    if not isinstance(out, TrainBatch):
        raise ConformanceFailure(f"augment() returned {type(out).__name__}, not a TrainBatch")
    return out


def _augment_problems(batch: TrainBatch, out: TrainBatch) -> list[str]:
    problems = []
    if not isinstance(out.images, torch.Tensor) or out.images.shape != batch.images.shape:
        problems.append(f"images changed shape from {tuple(batch.images.shape)} to "
                        f"{tuple(getattr(out.images, 'shape', ()))}")
    elif not out.images.is_floating_point() or not torch.isfinite(out.images).all():
        problems.append("images are not finite floats")
    if not isinstance(out.labels, torch.Tensor) or out.labels.shape != batch.labels.shape or \
            out.labels.dtype != batch.labels.dtype:
        problems.append("labels changed shape or dtype (they must stay int64 (N,) class indices)")
    if batch.masks is None:
        if out.masks is not None:
            problems.append("masks appeared in a batch that had none")
    elif not isinstance(out.masks, torch.Tensor) or out.masks.shape != batch.masks.shape:
        problems.append(f"masks changed shape from {tuple(batch.masks.shape)} to "
                        f"{tuple(getattr(out.masks, 'shape', ()))}")
    elif not torch.isin(out.masks, torch.tensor([0.0, 1.0], dtype=out.masks.dtype)).all():
        values = torch.unique(out.masks)
        problems.append(f"masks are not binary after augment() ({values.numel()} distinct values, e.g. "
                        f"{[round(float(v), 3) for v in values[:4]]}); threshold resampled masks")
    return problems


def check_augment(cls: type[Submission], options: CheckOptions) -> str:
    """``augment`` keeps shapes and dtypes, masks binary, and depends only on the generator it is given."""
    submission = instantiate(cls, options)
    size = options.sizes[0]
    variants = [True, False] if submission.spec.task == "classification" else [True]  # classification: no masks too
    for with_masks in variants:
        batch = train_batch(options.batch, size, options.seed, with_masks=with_masks,
                            num_classes=submission.num_classes)
        first = _augmented(submission, batch, 7, 1)
        problems = _augment_problems(batch, first)
        if problems:
            raise ConformanceFailure("augment(): " + "; ".join(problems))
        # Same generator seed, different global RNG state: identical output unless the hook uses global RNGs.
        again = _augmented(submission, batch, 7, 2)
        same = torch.equal(first.images, again.images) and (
            first.masks is None or torch.equal(first.masks, again.masks))  # type: ignore[arg-type]
        if not same:
            raise ConformanceFailure("augment() is not reproducible: the same generator gave different batches "
                                     "(draw all randomness from the `generator` argument, not torch's global RNG)")
    return "augment keeps shapes, binary masks; reproducible from its generator"


# --- determinism and batch independence ------------------------------------------------------------------------------
def check_deterministic(cls: type[Submission], options: CheckOptions) -> str:
    """Two builds under one torch seed have equal weights, and give equal eval outputs on the same images."""
    submission = instantiate(cls, options)
    first = seeded_build(submission, options.seed, fresh=True)
    second = seeded_build(submission, options.seed, fresh=True)
    a, b = first.state_dict(), second.state_dict()
    if list(a) != list(b):
        raise ConformanceFailure("two builds have different state_dict keys")
    differing = [k for k in a if a[k].shape != b[k].shape or not torch.equal(a[k], b[k])]
    if differing:
        raise ConformanceFailure(
            f"build_model() is not reproducible under torch.manual_seed: {len(differing)} tensor(s) differ "
            f"(e.g. {differing[0]}); initialise with torch's RNG, not numpy/random/time"
        )
    images = random_images(options.batch, options.sizes[0], options.seed)
    p1 = predict(submission, first, images, "(first build)")
    p2 = predict(submission, second, images, "(second build)")
    p3 = predict(submission, first, images, "(first build, again)")
    if not torch.allclose(p1, p3, atol=options.atol, rtol=0):
        raise ConformanceFailure(f"predictions in eval mode change between two calls on the same images (max "
                                 f"difference {float((p1 - p3).abs().max()):.3g}): randomness active at inference?")
    if not torch.allclose(p1, p2, atol=options.atol, rtol=0):
        raise ConformanceFailure(f"two identically seeded builds predict differently (max difference "
                                 f"{float((p1 - p2).abs().max()):.3g}) although their weights are equal")
    return f"{len(a)} state tensors equal; predictions equal"


def check_batch_independent(cls: type[Submission], options: CheckOptions) -> str:
    """Eval-mode predictions of a case do not depend on which other cases share its batch."""
    submission = instantiate(cls, options)
    model = seeded_build(submission, options.seed)
    n = max(options.batch, 4)
    images = random_images(n, options.sizes[0], options.seed)
    whole = predict(submission, model, images, "on the whole batch")
    subsets = [[n - 1, 1], [2]]
    for subset in subsets:
        part = predict(submission, model, images[subset], f"on cases {subset} alone")
        diff = float((part - whole[subset]).abs().max())
        if diff > options.atol:
            raise ConformanceFailure(
                f"predictions depend on the rest of the batch: cases {subset} predicted alone differ from the same "
                f"cases in a batch of {n} by up to {diff:.3g} (BatchNorm in train mode at inference, or a model "
                f"that mixes samples?)"
            )
    return f"cases predicted alone match the batch of {n} (max difference <= {options.atol})"

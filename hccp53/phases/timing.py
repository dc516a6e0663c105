"""Acquisition times of the dynamic T1 stacks and the labelling that explains them best.

Each dynamic T1 candidate gets a time (seconds since midnight) and says where it came from:

- its (0008,0032) *Acquisition Time*;
- for a multi-phase series whose time points share one Acquisition Time (GE writes the series
  start on every instance), the series start plus each time point's (0018,1060) *Trigger
  Time*, or plus its (0008,0033) *Content Time* difference from the first time point;
  without either, only the first time point has a time and the others only their order;
- for a series of its own without Acquisition Time: its Content Time, then its Series Time.

:func:`label_items` then labels the stacks, in time order, with ``pre eap ap pvp dp late``
(non-decreasing; ``eap`` only right before ``ap``) and chooses the injection time, so that the
sum of scores is largest (weights in ``scoring:`` of the rules file):

- description: the words name the label (+), a related label (+, e.g. arterial text on ``eap``),
  another phase (-), or only "post-contrast" (+ on post labels, - on ``pre``);
- timing: the fit of (time - injection) to the label's window: 1 inside, 0 at ``falloff_s``
  outside, lower further out down to ``timing_floor``;
- the Contrast/Bolus module on a single-phase series labelled ``pre`` (-);
- a bonus for each of ``ap pvp dp`` the labelling covers (every liver protocol has them;
  ``eap`` and ``late`` are optional and must be earned by their timing and text) and a smaller one
  for ``pre`` (``new_pre``: the pre-contrast T1 is often a separate series, and some studies hold
  only post-contrast series), a penalty for each repeated post-contrast label and for a further
  ``pre`` acquisition on the grid of an earlier one.

A known injection time (reference, or a believable Contrast/Bolus Start Time) fixes it;
otherwise every injection time on a grid is tried (dynamic programming, vectorised over the
grid) and the middle of the best-scoring ones is taken. The margin of each stack's label
(best score minus the best score with another label for it) feeds its confidence.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from hccp53.dicomio.stack import ImageStack
from hccp53.phases.classify import TextPhase
from hccp53.phases.rules import LABELS, PhaseRules

logger = logging.getLogger(__name__)

L = len(LABELS)
PRE, EAP, AP, PVP, DP, LATE = range(L)
#: Which text phases agree with / are related to each label.
AGREES = {"pre": PRE, "eap": EAP, "ap": AP, "pvp": PVP, "dp": DP, "hbp": LATE}
RELATED = {"eap": (AP,), "ap": (EAP,), "dp": (LATE,)}
#: Labels whose presence the model rewards (``new_phase``; ``new_pre`` for pre); eap and late are optional.
COVERED = (PRE, AP, PVP, DP)


@dataclass
class Candidate:
    """A dynamic T1 stack with what the timing model knows and decides about it."""

    stack: ImageStack
    text: TextPhase
    image_kind: str
    plane: str
    time: float | None = None
    time_source: str = ""
    order_only: bool = False          # placed by its temporal position, no time of its own
    item_time: float | None = None    # the time of its acquisition group (simultaneous stacks share it)
    label: str | None = None
    seconds: float | None = None      # time - injection
    margin: float | None = None       # score lost by the best labelling that changes this label
    in_model: bool = False
    two_d: bool = False               # a 2D T1 gradient echo (dynamic_t1.two_d)
    few_slices: bool = False          # fewer slices than min_slices
    notes: list[str] = field(default_factory=list)

    @property
    def multiphase(self) -> bool:
        return self.stack.temporal_position is not None and self.stack.temporal_positions > 1

    @property
    def geometry(self) -> tuple:
        s = self.stack
        return (s.rows, s.columns, s.slices, round(s.slice_spacing, 1), tuple(round(v, 2) for v in s.pixel_spacing))


def assign_times(candidates: list[Candidate]) -> None:
    """Fill ``time`` / ``time_source`` / ``order_only`` of every candidate (see the module docstring)."""
    by_series: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.multiphase:
            by_series[c.stack.series_uid].append(c)
        else:
            s = c.stack
            for value, source in ((s.acquisition_time, "AcquisitionTime"), (s.content_time, "ContentTime"),
                                  (s.series_time, "SeriesTime")):
                if value is not None:
                    c.time, c.time_source = value, source
                    break
    for members in by_series.values():
        members.sort(key=lambda c: c.stack.temporal_position or 0)
        acquisition = [c.stack.acquisition_time for c in members]
        anchor = min((t for t in acquisition if t is not None), default=None)
        if anchor is None:
            anchor = members[0].stack.series_time
        if None not in acquisition and len(set(acquisition)) == len(acquisition):
            for c in members:
                c.time, c.time_source = c.stack.acquisition_time, "AcquisitionTime"
            continue
        for attribute, unit, name in (("trigger_time", 1000.0, "TriggerTime"), ("content_time", 1.0, "ContentTime")):
            values = [getattr(c.stack, attribute) for c in members]
            if anchor is not None and None not in values and len(set(values)) == len(values):
                first = min(values)
                for c, v in zip(members, values, strict=True):
                    c.time = anchor + (v - first) / unit
                    c.time_source = f"series AcquisitionTime + {name} difference"
                break
        else:
            for c in members:
                c.order_only = True
                c.time_source = "temporal position only (time points share one AcquisitionTime)"
            if anchor is not None:
                members[0].time = anchor
                members[0].time_source = "series AcquisitionTime (first time point)"


def text_scores(text: TextPhase, rules: PhaseRules) -> np.ndarray:
    """Score of each label from a description's phase."""
    w = rules.scores
    out = np.zeros(L)
    if text.phase is None:
        return out
    if text.phase == "post":
        out[:] = w["post_text"]
        out[PRE] = w["post_text_on_pre"]
        return out
    out[:] = w["text_conflicts"]
    for label in (*RELATED.get(text.phase, ()), *(AGREES[p] for p in text.related if p in AGREES)):
        out[label] = w["text_related"]
    out[AGREES[text.phase]] = w["text_agrees"]
    return out


@dataclass
class Labelling:
    """The result of :func:`label_items`."""

    injection: float | None
    score: float
    tied_range: tuple[float, float] | None = None   # injection times that score as well


def _transitions(rules: PhaseRules, same_geometry: bool) -> tuple[np.ndarray, np.ndarray]:
    """(start, step) score matrices; step[a, b] moves from label a to label b."""
    w = rules.scores
    bonus = np.array([0.0 if label not in COVERED else w["new_pre"] if label == PRE else w["new_phase"]
                      for label in range(L)])
    start = bonus.copy()
    step = np.full((L, L), -np.inf)
    for a in range(L):
        for b in range(a, L):
            if a == EAP and b != AP:
                continue
            if b == a:
                step[a, b] = -w["pre_repeat_same_geometry"] * same_geometry if a == PRE else -w["repeat"]
            else:
                step[a, b] = bonus[b]
    return start, step


def _forward_backward(static: np.ndarray, fits: np.ndarray, starts: list, steps: list) -> tuple[list, list]:
    """Max-sum forward and backward tables, each a list of (grid, L) arrays."""
    n = static.shape[0]
    local = [static[i][None, :] + fits[i] for i in range(n)]
    forward = [starts[0][None, :] + local[0]]
    for i in range(1, n):
        prev = forward[-1][:, :, None] + steps[i][None, :, :]
        forward.append(prev.max(axis=1) + local[i])
    end = np.zeros(L)
    end[EAP] = -np.inf
    backward = [None] * n
    backward[n - 1] = np.broadcast_to(end, forward[-1].shape).copy()
    for i in range(n - 2, -1, -1):
        nxt = steps[i + 1][None, :, :] + (local[i + 1] + backward[i + 1])[:, None, :]
        backward[i] = nxt.max(axis=2)
    return forward, backward


def label_items(items: list[list[Candidate]], rules: PhaseRules, injection: float | None) -> Labelling:
    """Label ordered items (groups of simultaneous candidates) and fix or estimate the injection time.

    Parameters
    ----------
    items:
        Candidates grouped by acquisition, in time order; one label per group.
    injection:
        Known injection time (seconds since midnight), or None to estimate it.

    Returns
    -------
    Labelling
        The injection time used and the best score; each candidate's ``label``, ``seconds``
        and ``margin`` are filled in.
    """
    n = len(items)
    static = np.zeros((n, L))
    times = np.full(n, np.nan)
    for i, group in enumerate(items):
        static[i] = np.max([text_scores(c.text, rules) for c in group], axis=0)
        if any(c.stack.contrast_agent is not None and not c.multiphase for c in group):
            static[i, PRE] += rules.scores["contrast_module_on_pre"]
        timed = [c.time for c in group if c.time is not None]
        if timed:
            times[i] = float(np.mean(timed))
    known = times[~np.isnan(times)]
    if injection is not None:
        grid = np.array([injection])
    elif known.size:
        step = rules.estimate_step_s
        # up to a full-fitting pre after the last timed acquisition (a multi-phase series whose only
        # time is that of its first, pre-contrast, time point)
        after = -rules.windows["pre"].high if rules.windows["pre"].high is not None else 0.0
        grid = np.arange(known.min() - 1200.0, known.max() + max(after, 0.0) + step, step)
    else:
        grid = np.array([0.0])
    fits = np.zeros((n, grid.size, L))
    for i in range(n):
        if np.isnan(times[i]):   # a time point with no time of its own cannot be shown to be >= 10 min
            fits[i, :, LATE] = rules.scores["timing"] * rules.scores["timing_floor"]
        else:
            seconds = times[i] - grid
            for b, label in enumerate(LABELS):
                window = rules.windows[label]
                low = -np.inf if window.low is None else window.low
                high = np.inf if window.high is None else window.high
                fit = np.minimum(1.0 - np.maximum(low - seconds, 0.0) / window.falloff_before,
                                 1.0 - np.maximum(seconds - high, 0.0) / window.falloff_after)
                fits[i, :, b] = rules.scores["timing"] * np.maximum(rules.scores["timing_floor"], fit)
    geometries = [{c.geometry for c in group} for group in items]
    starts, steps = [], []
    for i in range(n):
        same = any(geometries[i] & geometries[j] for j in range(i))
        start, step = _transitions(rules, same)
        starts.append(start)
        steps.append(step)
    forward, backward = _forward_backward(static, fits, starts, steps)
    totals = [forward[i] + backward[i] for i in range(n)]
    best_per_grid = totals[0].max(axis=1)
    best = float(best_per_grid.max())
    tied = np.flatnonzero(best_per_grid >= best - 1e-9)
    t = int(tied[len(tied) // 2])
    labels = [int(np.argmax(totals[0][t]))]
    for i in range(1, n):
        options = forward[i - 1][t, labels[-1]] + steps[i][labels[-1]] + static[i] + fits[i, t] + backward[i][t]
        labels.append(int(np.argmax(options)))
    chosen_injection = None if (injection is None and not known.size) else float(grid[t])
    for i, group in enumerate(items):
        others = np.delete(totals[i], labels[i], axis=1)
        margin = best - float(others.max()) if others.size else np.inf
        for c in group:
            c.item_time = None if np.isnan(times[i]) else float(times[i])
            c.label = LABELS[labels[i]]
            c.in_model = True
            c.margin = margin
            if c.time is not None and chosen_injection is not None:
                c.seconds = c.time - chosen_injection
    tied_range = (float(grid[tied[0]]), float(grid[tied[-1]])) if injection is None and known.size else None
    return Labelling(chosen_injection, best, tied_range)


def score_at(items: list[list[Candidate]], rules: PhaseRules, injection: float) -> float:
    """Best labelling score with the injection fixed (labels are not kept)."""
    saved = [(c.label, c.seconds, c.margin, c.in_model, c.item_time) for group in items for c in group]
    score = label_items(items, rules, injection).score
    for c, values in zip([c for group in items for c in group], saved, strict=True):
        c.label, c.seconds, c.margin, c.in_model, c.item_time = values
    return score


def group_items(candidates: list[Candidate], rules: PhaseRules) -> tuple[list[list[Candidate]], list[Candidate]]:
    """Order candidates for the model and group simultaneous ones; return (items, left out).

    Left out: single-phase stacks without any time, and multi-phase series without any time
    when other stacks have times (they cannot be placed among them).
    """
    timed = [c for c in candidates if c.time is not None]
    keyed: list[tuple[tuple, Candidate]] = []
    left_out: list[Candidate] = []
    anchors = {c.stack.series_uid: c.time for c in candidates if c.multiphase and c.time is not None}
    for c in candidates:
        if c.time is not None:
            keyed.append(((c.time, c.stack.temporal_position or 0), c))
        elif c.multiphase and c.stack.series_uid in anchors:
            keyed.append(((anchors[c.stack.series_uid], c.stack.temporal_position or 0), c))
        elif c.multiphase and not timed:
            keyed.append(((0.0, c.stack.series_number or 0, c.stack.temporal_position or 0), c))
        else:
            left_out.append(c)
    keyed.sort(key=lambda kc: (kc[0], kc[1].stack.series_number or 0))
    items: list[list[Candidate]] = []
    for _, c in keyed:
        if items:
            last = items[-1][-1]
            close = (c.time is not None and last.time is not None
                     and abs(c.time - last.time) <= rules.same_acquisition_s)
            same_series = any(o.stack.series_uid == c.stack.series_uid and o.multiphase for o in items[-1])
            if close and not same_series:
                items[-1].append(c)
                continue
        items.append([c])
    return items, left_out

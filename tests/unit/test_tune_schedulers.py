"""Scheduler decisions against hand-worked cases of Ray Tune's rules (pure: fake trials and controller)."""
import math

import pytest

from strato.tune.schedulers import (ASHAScheduler, FIFOScheduler, HyperBandScheduler, MedianStoppingRule,
                                    PopulationBasedTraining, TrialScheduler)
from strato.tune.schedulers.async_hyperband import Bracket
from strato.tune.schedulers.hyperband import bracket_sizes
from strato.tune.schedulers.pbt import explore, quantiles
from strato.tune.search.sample import uniform


class FakeTrial:
    def __init__(self, trial_id, config=None, status="RUNNING", checkpoint=None):
        self.trial_id, self.config, self.status, self.checkpoint = trial_id, dict(config or {}), status, checkpoint

    def __repr__(self):
        return self.trial_id


class FakeController:
    def __init__(self, trials=()):
        self.trials = list(trials)
        self.stopped, self.unpaused = [], []

    def get_trials(self):
        return self.trials

    def stop_trial(self, trial, reason=""):
        trial.status = "TERMINATED"
        self.stopped.append((trial.trial_id, reason))

    def unpause_trial(self, trial):
        trial.status = "PENDING"
        self.unpaused.append(trial.trial_id)


def res(t, v, metric="m", attr="training_iteration"):
    return {attr: t, metric: v}


# ------------------------------------------------------------------ ASHA
def test_asha_rungs_are_grace_times_rf_powers_highest_first():
    assert [m for m, _ in Bracket(1, 9, 3, 0).rungs] == [9, 3, 1]
    assert [m for m, _ in Bracket(1, 8, 2, 0).rungs] == [8, 4, 2, 1]
    assert [m for m, _ in Bracket(1, 8, 2, 1).rungs] == [8, 4, 2]     # bracket s starts at grace * rf**s


def test_asha_cutoff_is_the_1_minus_1_over_rf_percentile_when_the_trial_reaches_the_rung():
    s = ASHAScheduler(metric="m", mode="max", max_t=9, grace_period=1, reduction_factor=3)
    c = FakeController()
    a, b, d = FakeTrial("a"), FakeTrial("b"), FakeTrial("c")
    for t in (a, b, d):
        s.on_trial_add(c, t)
    assert s.on_trial_result(c, a, res(1, 0.5)) == TrialScheduler.CONTINUE     # empty rung: no cutoff
    assert s.on_trial_result(c, b, res(1, 0.9)) == "CONTINUE"                  # cutoff 0.5
    decision = s.on_trial_result(c, d, res(1, 0.6))                            # cutoff 0.5 + 2/3 * 0.4 = 0.7667
    assert decision == TrialScheduler.STOP
    assert decision.reason == "ASHA: below rung 1 cutoff 0.7667"
    assert s.on_trial_result(c, a, res(2, 0.1)) == "CONTINUE"                  # rung 1 already recorded, no rung 2
    assert s.on_trial_result(c, a, res(9, 0.1)) == "STOP"                      # max_t
    assert s.on_trial_result(c, a, {"training_iteration": 3}) == "CONTINUE"    # no metric: continue


def test_asha_min_mode_negates_and_reports_the_cutoff_as_the_metric():
    s = ASHAScheduler(metric="loss", mode="min", max_t=9, grace_period=1, reduction_factor=3)
    c = FakeController()
    trials = [FakeTrial(x) for x in "abc"]
    for t in trials:
        s.on_trial_add(c, t)
    s.on_trial_result(c, trials[0], res(1, 0.5, "loss"))
    s.on_trial_result(c, trials[1], res(1, 0.1, "loss"))
    d = s.on_trial_result(c, trials[2], res(1, 0.4, "loss"))     # rewards -0.5, -0.1: cutoff -0.2333
    assert d == "STOP" and d.reason == "ASHA: below rung 1 cutoff 0.2333"


def test_asha_needs_metric_and_mode():
    with pytest.raises(ValueError, match="metric"):
        ASHAScheduler().on_trial_add(FakeController(), FakeTrial("a"))


# ------------------------------------------------------------------ HyperBand
def test_hyperband_bracket_sizes_match_the_paper_table():
    assert bracket_sizes(81, 3) == [(5, 81), (8, 27), (15, 9), (34, 3), (81, 1)]
    assert bracket_sizes(9, 3) == [(3, 9), (5, 3), (9, 1)]


def test_hyperband_pauses_until_the_bracket_reaches_its_milestone_then_halves():
    hb = HyperBandScheduler(metric="m", mode="max", max_t=9, reduction_factor=3)
    trials = [FakeTrial(f"t{i}") for i in range(8)]
    c = FakeController(trials)
    for t in trials:
        hb.on_trial_add(c, t)
    first, second = trials[:3], trials[3:]           # bracket 0 (3 trials to max_t), bracket 1 (5 trials, r0=3)
    # bracket 0 never halves: its trials run straight to max_t
    assert hb.on_trial_result(c, first[0], res(3, 1.0)) == "CONTINUE"
    # bracket 1: the first four to reach t=3 pause, the last one triggers halving to ceil(5/3)=2
    scores = [0.1, 0.9, 0.5, 0.8, 0.3]
    for t, v in zip(second[:4], scores[:4]):
        assert hb.on_trial_result(c, t, res(3, v)) == "PAUSE"
        t.status = "PAUSED"
    last = hb.on_trial_result(c, second[4], res(3, scores[4]))
    assert last == "STOP" and "not in the top 2" in last.reason            # 0.3 is not in the top 2
    assert sorted(tid for tid, _ in c.stopped) == ["t3", "t5"]             # 0.1 and 0.5 stopped
    assert sorted(c.unpaused) == ["t4", "t6"]                              # 0.9 and 0.8 go on to t=9
    assert hb.choose_trial_to_run(c).trial_id in ("t4", "t6")


def test_hyperband_stops_a_finished_bracket_at_max_t():
    hb = HyperBandScheduler(metric="m", mode="max", max_t=9, reduction_factor=3)
    trials = [FakeTrial(f"t{i}") for i in range(3)]
    c = FakeController(trials)
    for t in trials:
        hb.on_trial_add(c, t)
    assert hb.on_trial_result(c, trials[0], res(9, 1.0)) == "PAUSE"        # others not at 9 yet
    trials[0].status = "PAUSED"
    assert hb.on_trial_result(c, trials[1], res(9, 1.0)) == "PAUSE"
    trials[1].status = "PAUSED"
    assert hb.on_trial_result(c, trials[2], res(9, 1.0)) == "STOP"
    assert sorted(t for t, _ in c.stopped) == ["t0", "t1"]


# ------------------------------------------------------------------ median stopping
def _median(**kw):
    return MedianStoppingRule(time_attr="training_iteration", metric="m", mode="max", grace_period=1,
                              min_samples_required=2, **kw)


def test_median_rule_compares_best_so_far_with_the_median_of_running_means():
    s = _median()
    c = FakeController()
    a, b, x, y = (FakeTrial(i) for i in "abxy")
    for t, vals in ((a, [1.0, 1.0, 1.0]), (b, [0.0, 0.5, 0.7])):
        for i, v in enumerate(vals, 1):
            s.on_trial_result(c, t, res(i, v))
    d = s.on_trial_result(c, x, res(1, 0.2))           # means at t=1: a 1.0, b 0.0 -> median 0.5
    assert d == "STOP" and d.reason == "Median stopping: best 0.2 worse than median 0.5 at training_iteration=1"
    assert s.on_trial_result(c, y, res(1, 0.6)) == "CONTINUE"    # means a 1.0, b 0.0, x 0.2 -> median 0.2


def test_median_rule_running_mean_covers_grace_to_t():
    s = _median()
    c = FakeController()
    a, b, x = (FakeTrial(i) for i in "abx")
    for t, vals in ((a, [0.0, 1.0, 1.0]), (b, [0.0, 0.2, 0.2])):
        for i, v in enumerate(vals, 1):
            s.on_trial_result(c, t, res(i, v))
    s.on_trial_result(c, x, res(1, 0.9))
    # at t=2: a mean(0, 1) = 0.5, b mean(0, 0.2) = 0.1, x mean(0.9) (last t=1 < 2: not counted) -> median 0.3
    assert s.on_trial_result(c, x, res(2, 0.25)) == "CONTINUE"      # best so far 0.9
    y = FakeTrial("y")
    assert s.on_trial_result(c, y, res(1, 0.05)) == "CONTINUE"      # means at t=1: 0, 0, 0.9 -> median 0
    d = s.on_trial_result(c, y, res(2, 0.2))
    # now x's last result is at t=2: means a 0.5, b 0.1, x mean(0.9, 0.25) = 0.575 -> median 0.5
    assert d == "STOP" and "best 0.2 worse than median 0.5" in d.reason


def test_median_rule_with_too_few_samples_pauses_only_if_trials_wait():
    s = _median()
    a = FakeTrial("a")
    assert s.on_trial_result(FakeController([a]), a, res(1, 0.1)) == "CONTINUE"
    waiting = FakeTrial("w", status="PENDING")
    d = s.on_trial_result(FakeController([a, waiting]), a, res(2, 0.1))
    assert d == "PAUSE"


# ------------------------------------------------------------------ PBT
def test_pbt_quantiles():
    assert quantiles({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}, 0.25) == (["a", "b"], ["d", "e"])
    assert quantiles({"a": 1, "b": 2, "c": 3}, 0.5) == (["a"], ["c"])       # ceil(1.5)=2 > 1.5 -> floor = 1
    assert quantiles({"a": 1}, 0.5) == ([], [])


class ScriptedRng:
    def __init__(self, randoms, choices):
        self.randoms, self.choices = list(randoms), list(choices)

    def random(self):
        return self.randoms.pop(0)

    def choice(self, seq):
        want = self.choices.pop(0)
        assert want in list(seq)
        return want

    def getrandbits(self, n):
        return 7


def test_pbt_explore_lists_shift_or_resample():
    muts = {"lr": [0.001, 0.01, 0.1]}
    new, ops = explore({"lr": 0.01}, muts, 0.25, (1.2, 0.8), None, ScriptedRng([0.9], [1]))
    assert new == {"lr": 0.1} and ops == {"lr": "shift right"}
    new, ops = explore({"lr": 0.1}, muts, 0.25, (1.2, 0.8), None, ScriptedRng([0.9], [1]))
    assert new == {"lr": 0.1} and ops == {"lr": "shift right (noop)"}          # clamped at the end
    new, ops = explore({"lr": 0.5}, muts, 0.25, (1.2, 0.8), None, ScriptedRng([0.9], [0.001]))
    assert new == {"lr": 0.001} and ops == {"lr": "resample"}                  # not in the list
    new, _ = explore({"lr": 0.01}, muts, 0.25, (1.2, 0.8), None, ScriptedRng([0.1], [0.1]))
    assert new == {"lr": 0.1}                                                  # p < 0.25: resample


def test_pbt_explore_domains_and_callables_perturb_or_resample_ints_stay_ints():
    muts = {"x": uniform(0, 1), "n": lambda: 99, "flag": [True, False]}
    cfg = {"x": 0.5, "n": 10, "flag": True}
    new, ops = explore(cfg, muts, 0.25, (1.2, 0.8), None, ScriptedRng([0.9, 0.9, 0.9], [1.2, 0.8, -1]))
    assert new["x"] == pytest.approx(0.6) and new["n"] == 8 and isinstance(new["n"], int)
    new, ops = explore(cfg, {"n": lambda: 99}, 0.25, (1.2, 0.8), lambda c: dict(c, extra=1), ScriptedRng([0.1], []))
    assert new["n"] == 99 and ops == {"n": "resample"} and new["extra"] == 1


def test_pbt_upper_quantile_saves_and_lower_quantile_exploits_a_clone():
    pbt = PopulationBasedTraining(time_attr="training_iteration", metric="score", mode="max",
                                  perturbation_interval=2, quantile_fraction=0.25,
                                  hyperparam_mutations={"lr": [0.1, 0.2, 0.3]}, seed=0)
    trials = [FakeTrial(x, {"lr": 0.2}, checkpoint=f"ckpt-{x}") for x in "abcd"]
    c = FakeController(trials)
    for t in trials:
        pbt.on_trial_add(c, t)
    assert pbt.on_trial_result(c, trials[0], res(1, 1.0, "score")) == "CONTINUE"      # before the interval
    d = pbt.on_trial_result(c, trials[0], res(2, 1.0, "score"))
    assert d == "CONTINUE" and not d.save                                             # alone: no quantiles
    for t, v in zip(trials[1:], (2.0, 3.0, 4.0)):
        d = pbt.on_trial_result(c, t, res(2, v, "score"))
        assert d == "CONTINUE" and d.save                                             # each is the top trial
    d = pbt.on_trial_result(c, trials[0], res(4, 1.5, "score"))
    assert d == "PAUSE" and d.exploit["clone"] == "d" and d.exploit["checkpoint"] == "ckpt-d"
    assert d.exploit["config"]["lr"] in (0.1, 0.2, 0.3)
    assert d.reason.startswith("PBT: exploit d")


def test_pbt_rejects_bad_settings():
    with pytest.raises(ValueError, match="quantile_fraction"):
        PopulationBasedTraining(hyperparam_mutations={"a": [1]}, quantile_fraction=0.6)
    with pytest.raises(ValueError, match="hyperparam_mutations"):
        PopulationBasedTraining()


def test_fifo_chooses_pending_before_paused():
    c = FakeController([FakeTrial("p", status="PAUSED"), FakeTrial("q", status="PENDING")])
    assert FIFOScheduler().choose_trial_to_run(c).trial_id == "q"

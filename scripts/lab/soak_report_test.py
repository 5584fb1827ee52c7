#!/usr/bin/env python3
"""The chaos soak's verdicts (soak_report) on made-up data: what counts as a violation."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak_report as rep  # noqa: E402

KILL = rep.FaultKind("kill-both", "", 2.0, 3.0, ("node-b",))
HUP = rep.FaultKind("hup", "", 0.0, 0.0, ("node-a",))
BACKEND = rep.FaultKind("backend", "", 4.0, 2.0, ("node-a",))
PARTITION = rep.FaultKind("partition", "", 2.0, 3.0, None)


def req(t, ok=True, client="c", kind="cookie", backend="be1", lat=0.01, err="ConnectionRefused"):
    return rep.Request(t, t + lat, client, kind, ok, backend if ok else "", "" if ok else err)


class Windows(unittest.TestCase):
    def test_a_failure_inside_the_fault_or_restore_window_is_allowed_and_one_outside_is_not(self):
        f = rep.Fault(KILL, 0, 100.0, 106.0, 120.0, "node-a")
        records = [req(100.5, ok=False), req(107.0, ok=False), req(103.0, ok=False),
                   req(110.0, ok=False)]
        inside, outside = rep.failures(records, [f])
        self.assertEqual(inside, {0: 2})
        self.assertEqual([r.t for r in outside], [103.0, 110.0])

    def test_a_request_in_flight_when_the_window_opens_counts_as_inside(self):
        f = rep.Fault(KILL, 0, 100.0, 106.0, 120.0, "node-a")
        inside, outside = rep.failures([req(99.8, ok=False, lat=0.5)], [f])
        self.assertEqual((inside, outside), ({0: 1}, []))

    def test_a_hup_has_no_window_so_every_failure_in_its_period_is_a_violation(self):
        f = rep.Fault(HUP, 0, 100.0, 100.0, 120.0, "weight=2")
        inside, outside = rep.failures([req(100.01, ok=False)], [f])
        self.assertEqual(len(outside), 1)

    def test_failed_probes_are_not_client_failures(self):
        f = rep.Fault(HUP, 0, 100.0, 100.0, 120.0, "")
        inside, outside = rep.failures([req(101.0, ok=False, kind="probe")], [f])
        self.assertEqual(outside, [])
        self.assertEqual(len(rep.probe_misses_outside([req(101.0, ok=False, kind="probe")], [f])),
                         1)


class AnsweredAgain(unittest.TestCase):
    def test_is_zero_when_no_probe_failed(self):
        self.assertEqual(rep.answered_again([req(1.0, kind="probe")], 0.0, 2.0, 5.0), 0.0)

    def test_runs_to_the_end_of_the_first_success_after_the_first_failure(self):
        probes = [req(10.0, kind="probe"), req(10.1, ok=False, kind="probe"),
                  req(10.2, ok=False, kind="probe"), req(10.4, kind="probe", lat=0.02)]
        self.assertEqual(rep.answered_again(probes, 10.05, 12.0, 15.0), 370.0)

    def test_is_none_when_the_vip_never_answered_again(self):
        probes = [req(10.1, ok=False, kind="probe"), req(16.0, kind="probe")]
        self.assertIsNone(rep.answered_again(probes, 10.0, 12.0, 15.0))

    def test_one_probe_timing_out_alone_is_a_miss_but_two_in_a_row_are_an_outage(self):
        lone = [req(10.1, kind="probe"), req(10.2, ok=False, kind="probe", err="TimeoutError"),
                req(10.3, kind="probe")]
        self.assertEqual(rep.answered_again(lone, 10.0, 12.0, 15.0), 0.0)
        two = [req(10.1, ok=False, kind="probe", err="TimeoutError"),
               req(10.2, ok=False, kind="probe", err="TimeoutError"), req(10.3, kind="probe")]
        self.assertEqual(rep.answered_again(two, 10.0, 12.0, 15.0), 310.0)

    def test_a_probe_missed_after_the_window_is_not_a_failover(self):
        probes = [req(10.1, kind="probe"), req(13.0, ok=False, kind="probe"),
                  req(13.1, kind="probe")]
        self.assertEqual(rep.answered_again(probes, 10.0, 12.0, 15.0), 0.0)


class Sticky(unittest.TestCase):
    def test_a_changed_backend_is_a_violation_outside_a_backend_fault(self):
        f = rep.Fault(KILL, 0, 100.0, 106.0, 120.0, "node-a")
        bad = rep.sticky_changes([req(99.0), req(101.0, backend="be2")], [f], {})
        self.assertEqual([(r.t, prev) for r, prev in bad], [(101.0, "be1")])

    def test_leaving_or_returning_to_the_killed_backend_is_allowed_in_its_period(self):
        f = rep.Fault(BACKEND, 0, 100.0, 106.0, 120.0, "be2")
        records = [req(99.0, backend="be2"), req(101.0, backend="be3"),
                   req(110.0, backend="be2"), req(112.0, backend="be3"),
                   req(119.0, backend="be1")]
        bad = rep.sticky_changes(records, [f], {})
        self.assertEqual([(r.t, prev) for r, prev in bad], [(119.0, "be3")])

    def test_the_previous_backend_carries_over_between_calls_and_probes_do_not_count(self):
        last = {}
        self.assertEqual(rep.sticky_changes([req(1.0)], [], last), [])
        self.assertEqual(rep.sticky_changes([req(2.0, kind="probe", client="c",
                                                  backend="be3")], [], last), [])
        self.assertEqual(len(rep.sticky_changes([req(3.0, backend="be2")], [], last)), 1)


class VipHolders(unittest.TestCase):
    def test_two_holders_after_the_fault_settled_are_counted(self):
        f = rep.Fault(KILL, 0, 100.0, 106.0, 120.0, "node-a")
        log = [(0.0, ("node-a",)), (100.1, ()), (100.4, ("node-b",)),
               (107.0, ("node-a", "node-b")), (110.0, ("node-a",))]
        wrong, double = rep.vip_problems(log, f)
        self.assertAlmostEqual(wrong, 1.0)  # 109..110 both; before 109 is the restore window
        self.assertAlmostEqual(double, 1.0)

    def test_node_b_draining_after_the_switch_back_is_not_a_second_holder(self):
        f = rep.Fault(KILL, 0, 100.0, 106.0, 125.0, "node-a")
        log = [(0.0, ("node-a",)), (100.1, ()), (100.4, ("node-b",)),
               (107.0, ("node-a", "node-b")), (117.5, ("node-a",))]
        self.assertEqual(rep.vip_problems(log, f, drain=10.0), (0.0, 0.0))
        # Past the drain (and the switch-back slack) it is two holders again.
        late = log[:-1] + [(121.0, ("node-a",))]
        wrong, double = rep.vip_problems(late, f, drain=10.0)
        self.assertAlmostEqual(double, 2.0)
        self.assertAlmostEqual(wrong, 2.0)

    def test_the_end_of_the_drain_is_a_window_only_after_a_switch_back(self):
        kill = rep.Fault(KILL, 0, 100.0, 106.0, 125.0, "node-a")
        self.assertTrue(rep.in_any(117.0, 117.1, rep.windows(kill, drain=10.0)))
        self.assertFalse(rep.in_any(117.0, 117.1, rep.windows(kill)))
        hup = rep.Fault(HUP, 0, 100.0, 100.0, 120.0, "")
        self.assertFalse(rep.in_any(110.5, 110.6, rep.windows(hup, drain=10.0)))

    def test_a_partition_does_not_check_who_holds_the_vip_until_it_heals(self):
        f = rep.Fault(PARTITION, 0, 100.0, 106.0, 120.0, "")
        log = [(0.0, ("node-a",)), (100.5, ("node-a", "node-b")), (106.2, ("node-a",))]
        self.assertEqual(rep.vip_problems(log, f), (0.0, 0.0))

    def test_nobody_holding_the_vip_once_settled_is_wrong(self):
        f = rep.Fault(HUP, 0, 100.0, 100.0, 120.0, "")
        wrong, double = rep.vip_problems([(0.0, ("node-a",)), (115.0, ())], f)
        self.assertAlmostEqual(wrong, 5.0)
        self.assertEqual(double, 0.0)


class Growth(unittest.TestCase):
    def test_compares_the_medians_of_the_first_and_last_quarter(self):
        samples = [(t, 100 + t) for t in range(0, 101)]
        self.assertEqual(rep.quarter_medians(samples, 0, 100), (112, 187.5))

    def test_growth_must_exceed_both_the_relative_and_the_absolute_tolerance(self):
        self.assertFalse(rep.grew(10000, 13000, 0.10, 4096))
        self.assertTrue(rep.grew(10000, 15000, 0.10, 4096))
        self.assertFalse(rep.grew(100000, 109000, 0.10, 4096))
        self.assertTrue(rep.grew(20, 25, 0, 4))


if __name__ == "__main__":
    unittest.main()

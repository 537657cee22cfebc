"""Tests of the meter's capacity rules (stdlib unittest, no server):

    python3 -m unittest bench/test_dynamo_meter.py -v
"""

from __future__ import annotations

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dynamo_meter as m  # noqa: E402


def s(v: str) -> dict:
    return {"S": v}


class Sizes(unittest.TestCase):
    def test_attribute_names_count_with_their_values(self):
        self.assertEqual(m.item_size({"PK": s("abc")}), 2 + 3)
        self.assertEqual(m.item_size({"é": s("é")}), 4, "UTF-8 bytes, not characters")

    def test_numbers_by_significant_digits(self):
        self.assertEqual(m.value_size({"N": "1"}), 2)
        self.assertEqual(m.value_size({"N": "12345"}), 4)
        self.assertEqual(m.value_size({"N": "1000"}), 2, "trailing zeros are not significant")

    def test_lists_and_maps_carry_overhead(self):
        self.assertEqual(m.value_size({"L": [s("ab")]}), 3 + 2 + 1)
        self.assertEqual(m.value_size({"M": {"k": s("ab")}}), 3 + 1 + 2 + 1)
        self.assertEqual(m.value_size({"BOOL": True}), 1)


class Units(unittest.TestCase):
    def test_writes_round_up_per_kilobyte_with_one_at_least(self):
        self.assertEqual(m.write_units(0), 1)
        self.assertEqual(m.write_units(1024), 1)
        self.assertEqual(m.write_units(1025), 2)

    def test_reads_round_up_per_4_kb_and_halve_when_eventually_consistent(self):
        self.assertEqual(m.read_units(100, True), 1)
        self.assertEqual(m.read_units(4097, True), 2)
        self.assertEqual(m.read_units(4097, False), 1)
        self.assertEqual(m.read_units(0, False), 0.5)

    def test_index_writes_follow_the_index_keys(self):
        plain = {"PK": s("A"), "SK": s("B")}
        indexed = {**plain, "GSI1PK": s("X"), "GSI1SK": s("1")}
        moved = {**plain, "GSI1PK": s("X"), "GSI1SK": s("2")}
        self.assertEqual(m.index_writes(None, plain), 0, "not in any index")
        self.assertEqual(m.index_writes(None, indexed), 1, "a new index entry")
        self.assertEqual(m.index_writes(indexed, indexed), 0, "unchanged: no index write")
        self.assertEqual(m.index_writes(indexed, moved), 2, "a key change: delete + put")
        self.assertEqual(m.index_writes(indexed, None), 1, "deleted from the index")
        changed = {**indexed, "note": s("x")}
        self.assertEqual(m.index_writes(indexed, changed), 1, "projection ALL: updated")

    def test_a_delete_costs_the_item_deleted(self):
        meter = m.Meter(upstream=None)
        item = {"PK": s("A"), "SK": s("B"), "blob": s("x" * 2000)}
        self.assertEqual(meter.write_cost(item, None, "DeleteItem"), 2)
        self.assertEqual(meter.write_cost(item, {"PK": s("A"), "SK": s("B")}, "PutItem"), 2,
                         "a put costs the larger of before and after")


if __name__ == "__main__":
    unittest.main()

"""Filters and limits of the state API (strato.util.state.select): no processes."""
import pytest

from strato.util import state

ITEMS = [{"task_id": str(i), "state": "RUNNING" if i % 2 else "FINISHED", "name": f"f{i % 3}",
          "node_id": None} for i in range(10)]


def test_limit_truncates_and_counts_say_so():
    r = state.select(ITEMS, [], limit=3)
    assert [i["task_id"] for i in r["result"]] == ["0", "1", "2"]
    assert (r["total"], r["num_filtered"], r["num_after_truncation"]) == (10, 10, 3)


def test_no_limit():
    assert len(state.select(ITEMS, [], limit=0)["result"]) == 10


def test_equal_and_not_equal_filters_combine():
    r = state.select(ITEMS, [("state", "=", "running"), ("name", "!=", "f0")], limit=100)
    assert [i["task_id"] for i in r["result"]] == ["1", "5", "7"]


def test_none_matches_an_empty_filter_value():
    assert len(state.select(ITEMS, [("node_id", "=", "")], limit=100)["result"]) == 10


def test_unknown_column_is_a_clear_error():
    with pytest.raises(ValueError, match="Cannot filter on \\['colour'\\]"):
        state.select(ITEMS, [("colour", "=", "red")])


@pytest.mark.parametrize("bad", [("state", "RUNNING"), ("state", ">", "x"), "state=RUNNING"])
def test_malformed_filters_are_rejected(bad):
    with pytest.raises(ValueError):
        state.check_filters([bad])


def test_client_address_must_be_a_url_with_a_token():
    with pytest.raises(ValueError, match="dashboard URL"):
        state.client("127.0.0.1:6380")
    with pytest.raises(ValueError, match="token"):
        state.client("http://127.0.0.1:8265")

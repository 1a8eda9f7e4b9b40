"""RayDMatrix's columns= (strato/xgboost/matrix.py): the columns to read; the label among them is no feature."""
import pandas as pd

from strato.xgboost.matrix import _from_frame


def test_a_label_named_in_columns_is_read_but_not_a_feature():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "label": [0, 1], "row_id": [7, 8]})
    shard = _from_frame(frame, {"label": "label", "columns": ["a", "b", "label"]}, [2])
    assert list(shard.X.columns) == ["a", "b"]
    assert shard.label.tolist() == [0, 1]


def test_without_columns_every_column_but_the_roles_and_ignored_ones_is_a_feature():
    frame = pd.DataFrame({"a": [1.0], "w": [0.5], "label": [1], "row_id": [7]})
    shard = _from_frame(frame, {"label": "label", "weight": "w", "ignore": ["row_id"]}, [1])
    assert list(shard.X.columns) == ["a"] and shard.weight.tolist() == [0.5]

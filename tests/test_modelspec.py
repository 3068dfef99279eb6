import json

import pytest

from cardlens.detector.train import detector_spec
from cardlens.errors import ModelError
from cardlens.modelspec import ModelSpec, sha256_of, verify_file


def test_spec_json_round_trip():
    spec = detector_spec(320, "t")
    back = ModelSpec.from_json(spec.to_json())
    assert back == spec and back.input_size == (320, 320) and back.keypoints[0] == "top_left"
    json.loads(spec.to_json())  # real JSON, not str(dict)


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.update(spec_format=99), "format"),
    (lambda d: d.update(new_key=1), "unknown keys"),
    (lambda d: d.pop("task"), "incomplete"),
])
def test_spec_refuses_foreign_or_broken(mutate, match):
    d = detector_spec(320, "t").to_dict()
    mutate(d)
    with pytest.raises(ModelError, match=match):
        ModelSpec.from_dict(d)


def test_spec_not_json():
    with pytest.raises(ModelError, match="not valid JSON"):
        ModelSpec.from_json("{oops", source="x.json")


def test_verify_file_names_file_and_expected_hash(tmp_path):
    f = tmp_path / "w.onnx"
    f.write_bytes(b"weights")
    good = sha256_of(f)
    verify_file(f, good)
    f.write_bytes(b"weightz")
    with pytest.raises(ModelError) as err:
        verify_file(f, good)
    assert str(f) in str(err.value) and good in str(err.value)
    with pytest.raises(ModelError, match="missing"):
        verify_file(tmp_path / "gone.onnx", good)

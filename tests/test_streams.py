"""The sub-streams of a generation's regime key come from one registry (keys.py).

Today's consumers keep today's numbers (so every existing bit is unchanged); a clash
of names or numbers is refused with the house message; a fork's number depends on
its name only.
"""

from __future__ import annotations

import zlib

import pytest

import jax
import jax.numpy as jnp

import collapse_jax as cj
from collapse_jax import keys, monitor
from collapse_jax.regimes import pipeline


def test_todays_streams_keep_todays_numbers():
    assert dict(keys.BUILTIN_STREAMS) == {
        "fresh": 1,
        "subsample": 2,
        "retain": 3,
        "curation": 4,
        "monitor_held_out": 5,
        "monitor": 6,
        "monitor_inject": 7,
    }
    for name, number in keys.BUILTIN_STREAMS.items():
        assert keys.stream_number(name) == number


def test_the_monitors_numbers_are_the_registered_ones():
    """monitor.py's constants must name registered streams, never a free number."""
    assert monitor._STREAM_HELD_OUT == keys.stream_number("monitor_held_out")
    assert monitor._STREAM_MONITOR == keys.stream_number("monitor")
    assert monitor._STREAM_INJECT == keys.stream_number("monitor_inject")


def test_a_clash_of_names_is_refused():
    with pytest.raises(ValueError, match=r"register_stream\(\): name must be a name no "
                       r"other sub-stream has; got 'monitor'\. 'monitor' is stream 6"):
        keys.register_stream("monitor")


def test_a_clash_of_numbers_is_refused():
    with pytest.raises(ValueError, match=r"register_stream\(\): number must be a "
                       r"number no other sub-stream has; got 5, the number of stream "
                       r"'monitor_held_out'"):
        keys.register_stream("test_streams_my_held_out", 5)
    assert "test_streams_my_held_out" not in keys.streams()


@pytest.mark.parametrize("number, match", [
    (0, r"number must be an int in \[1, 65536\)"),
    (2**16, r"number must be an int in \[1, 65536\)"),
    (True, "number must be an int"),
    (1.5, "number must be an int"),
])
def test_bad_numbers_are_refused(number, match):
    with pytest.raises(ValueError, match=match):
        keys.register_stream("test_streams_bad_number", number)


def test_bad_names_are_refused():
    with pytest.raises(TypeError, match=r"register_stream\(\): name must be a stream "
                       r"name"):
        keys.register_stream(3)
    with pytest.raises(ValueError, match="name must be a stream name"):
        keys.register_stream("two words")
    with pytest.raises(LookupError, match=r"stream_number\(\): name must be a "
                       r"registered stream \(.*fresh.*\); got 'nope'"):
        keys.stream_number("nope")


def test_a_derived_number_depends_on_the_name_only():
    name = "test_streams_derived"
    number = keys.register_stream(name)
    assert number == 2**16 + zlib.crc32(name.encode()) % (2**32 - 2**16)
    assert keys.streams()[name] == number
    with pytest.raises(TypeError):
        keys.streams()[name] = 1  # a read-only view


def test_stream_key_folds_in_the_registered_number():
    k = cj.keys.generation_keys(jax.random.key(3), jnp.int32(2))
    ctx = type("Ctx", (), {"keys": k})()
    want = jax.random.fold_in(k.regime, 1)
    assert (jax.random.key_data(pipeline.stream_key(ctx, "fresh"))
            == jax.random.key_data(want)).all()

"""collapse_jax.distributed: chains over processes, merged bit for bit."""

from __future__ import annotations

import json
import os
import pickle
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jax

import collapse_jax as cj
from collapse_jax import distributed

G = cj.gaussian()
TRUTH = cj.gaussian_params(0.0, 1.0)
KW = dict(key=7, num_generations=4, sample_size=10)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_same_result(a, b):
    """Bitwise equal records, ids, final states and configs."""
    assert a.config == b.config
    np.testing.assert_array_equal(a.chain_ids, b.chain_ids)
    np.testing.assert_array_equal(a.status, b.status)
    assert a.metrics.keys() == b.metrics.keys()
    for m in a.metrics:
        np.testing.assert_array_equal(a.metrics[m], b.metrics[m])
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    for x, y in zip(
        jax.tree.leaves(a.final_state), jax.tree.leaves(b.final_state), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_shares_are_contiguous_ranges_covering_the_run():
    for n, p in [(10, 3), (8, 2), (5, 5), (1000, 7)]:
        parts = [
            distributed.share(n, first_chain=3, process_id=i, num_processes=p)
            for i in range(p)
        ]
        ids = np.concatenate([np.arange(f, f + c) for f, c in parts])
        np.testing.assert_array_equal(ids, 3 + np.arange(n))
        assert max(c for _, c in parts) - min(c for _, c in parts) <= 1
    assert distributed.share(6) == (0, 6)  # one process: everything


def test_merged_parts_are_the_single_run():
    # 3 + 3 + 2 chains: every part pads to the 8 chains of the whole (one compile).
    whole = cj.run_chains(G, TRUTH, num_chains=8, **KW)
    parts = [
        cj.run_chains(G, TRUTH, num_chains=c, first_chain=f, **KW)
        for f, c in [
            distributed.share(8, process_id=i, num_processes=3) for i in (2, 0, 1)
        ]
    ]
    assert_same_result(cj.merge_results(parts), whole)


def test_merge_refuses_parts_of_other_runs():
    a = cj.run_chains(G, TRUTH, num_chains=4, **KW)
    b = cj.run_chains(G, TRUTH, num_chains=4, first_chain=4, **{**KW, "key": 8})
    with pytest.raises(
        ValueError,
        match=r"merge_results\(\): results must be parts "
        "of one run.*seeds 7 and 8",
    ):
        cj.merge_results([a, b])
    c = cj.run_chains(G, TRUTH, num_chains=4, first_chain=5, **KW)
    with pytest.raises(
        ValueError,
        match=r"contiguous ranges.*from chain 5 where "
        "chain 4 was next.*overlap or leave gaps",
    ):
        cj.merge_results([a, c])
    with pytest.raises(ValueError, match="contiguous ranges"):
        cj.merge_results([a, a])
    with pytest.raises(TypeError, match="sequence of ChainResult"):
        cj.merge_results(a)
    with pytest.raises(TypeError, match="non-empty sequence of ChainResult"):
        cj.merge_results([])


def test_bad_arguments_are_clear_errors():
    with pytest.raises(
        ValueError,
        match=r"share\(\): num_chains must be >= the "
        r"number of processes \(4\); got 3",
    ):
        distributed.share(3, process_id=0, num_processes=4)
    with pytest.raises(
        ValueError,
        match=r"share\(\): process_id must be an int in "
        r"\[0, 1\]; got 2",
    ):
        distributed.share(8, process_id=2, num_processes=2)
    with pytest.raises(
        ValueError,
        match=r"initialize\(\): coordinator_address, "
        "num_processes and process_id must be all given or all None",
    ):
        distributed.initialize("127.0.0.1:1234")
    with pytest.raises(
        ValueError,
        match=r"'HOST:PORT' with a port in 1..65535; "
        "got '127.0.0.1'",
    ):
        distributed.initialize("127.0.0.1", 2, 0)
    with pytest.raises(ValueError, match=r"process_id must be an int in \[0, 1\]"):
        distributed.initialize("127.0.0.1:1234", 2, 5)
    with pytest.raises(
        ValueError,
        match=r"run_chains\(\): devices must be None, "
        "'all', an int",
    ):
        cj.run_chains(G, TRUTH, num_chains=4, devices="every", **KW)


def test_devices_all_is_every_local_device_and_changes_no_bit():
    a = cj.run_chains(G, TRUTH, num_chains=8, devices="all", **KW)
    assert_same_result(a, cj.run_chains(G, TRUTH, num_chains=8, **KW))


def test_output_summaries_reaches_the_run_and_returns_its_summaries():
    # output= is a named argument of distributed.run_chains (its overloads type the
    # result by it): it must still reach the run.
    kw = dict(KW, num_chains=8, output="summaries")
    got = distributed.run_chains(G, TRUTH, **kw)
    want = cj.run_chains(G, TRUTH, **kw)
    assert isinstance(got, cj.SummaryResult) and isinstance(want, cj.SummaryResult)
    np.testing.assert_array_equal(got.generations, want.generations)
    assert got.stats.keys() == want.stats.keys()
    for m in want.stats:
        for name in want.stats[m]:
            np.testing.assert_array_equal(got.stats[m][name], want.stats[m][name])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_WORKER = textwrap.dedent("""
    import pickle, sys
    import jax
    import collapse_jax as cj
    pid, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    cj.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    kw = dict(key=7, num_chains=8, num_generations=4, sample_size=10)
    g, p = cj.gaussian(), cj.gaussian_params(0.0, 1.0)
    whole = cj.distributed.run_chains(g, p, **kw)
    mine = cj.distributed.run_chains(g, p, gather=False, **kw)
    refused = []
    try:
        cj.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    except RuntimeError as err:
        refused.append(str(err))
    other = [d for d in jax.devices() if d.process_index != jax.process_index()]
    try:
        cj.run_chains(g, p, devices=other, **kw)
    except ValueError as err:
        refused.append(str(err))
    with open(out, "wb") as f:
        pickle.dump((jax.process_count(), whole, cj.distributed._to_host(mine),
                     refused), f)
""")


# Two fresh interpreters import collapse_jax and compile: 24 s on the 2-core machine
# under load 8 (60 s under load 15), so it runs with -m slow.
@pytest.mark.slow
def test_two_processes_on_loopback_give_the_single_process_run(tmp_path):
    """Two jax.distributed processes on 127.0.0.1 (CPU, one device each): the
    gathered run, and the merge of the parts each kept, are the one-process run."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": ROOT,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
    }
    env.pop("JAX_NUM_CPU_DEVICES", None)
    outs = [tmp_path / f"p{i}.pkl" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(i), str(port), str(outs[i])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=240)[0] for p in procs]
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-3000:]
    single = distributed._to_host(cj.run_chains(G, TRUTH, num_chains=8, **KW))
    mine = []
    for out in outs:
        count, whole, part, refused = pickle.loads(out.read_bytes())
        assert count == 2
        assert len(refused) == 2, refused
        assert re.match(
            r"initialize\(\): the process must be not yet part of a "
            "distributed run; got already initialized",
            refused[0],
        )
        assert re.match(
            r"run_chains\(\): devices must be devices of this process "
            r"\(process [01]\); got 1 of another process",
            refused[1],
        )
        assert_same_result(whole, single)
        mine.append(part)
    assert [p.chain_ids.tolist() for p in mine] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert_same_result(cj.merge_results(mine), single)


@pytest.mark.slow  # three CLI processes: 93 s on 2 cores under load 15
def test_two_cli_processes_write_the_single_process_results_file(tmp_path):
    """`collapse-jax run ... --coordinator`: each process runs its share of the
    experiment's chains into RUN_DIR/process-I; process 0 writes the merged
    results.nc, whose records are the single-process file's, bit for bit."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    args = [
        "-m",
        "collapse_jax",
        "run",
        "gaussian",
        "--num-chains",
        "9",
        "--num-generations",
        "3",
        "--no-figures",
        "-q",
    ]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                *args,
                "-o",
                str(tmp_path / "two"),
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=240)[0] for p in procs]
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-3000:]
    one = subprocess.run(
        [sys.executable, *args, "-o", str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = (
        cj.load(tmp_path / "one" / "results.nc"),
        cj.load(tmp_path / "two" / "results.nc"),
    )
    assert set(a.variables) == set(b.variables)
    for v in a.variables:
        np.testing.assert_array_equal(a[v].values, b[v].values)
    assert b.attrs["num_chains"] == 9 and b.attrs["config"] == a.attrs["config"]
    assert cj.load(tmp_path / "two" / "process-1" / "results.nc")[
        "chain"
    ].values.tolist() == [5, 6, 7, 8]


def test_merge_datasets_puts_the_parts_of_a_run_back(tmp_path):
    """The experiment files of two shares (written as two processes would, by
    faking the process index) merge into the one-process file."""
    kw = dict(
        overrides={"num_chains": 9, "num_generations": 2}, figures=False, progress=False
    )
    one = cj.run_experiment("gaussian", out=tmp_path / "one", **kw).dataset
    parts = []
    for i in (1, 0):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(
                distributed,
                "local_share",
                lambda n, i=i: distributed.share(n, process_id=i, num_processes=2),
            )
            parts.append(
                cj.run_experiment("gaussian", out=tmp_path / f"p{i}", **kw).dataset
            )
    assert parts[0]["chain"].values.tolist() == [5, 6, 7, 8]
    merged = distributed.merge_datasets(parts)
    for v in one.variables:
        np.testing.assert_array_equal(one[v].values, merged[v].values)
    assert merged.attrs["num_chains"] == 9
    with pytest.raises(
        ValueError,
        match=r"merge_datasets\(\): datasets must be "
        r"chains 0 .. 8, each once; got 4 chains, ids 5 .. 8",
    ):
        distributed.merge_datasets(parts[:1])


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            ["--coordinator", "127.0.0.1:1234"],
            [
                "run(): --coordinator, --num-processes and --process-id must be "
                "all given or all None",
                "--num-processes=None",
            ],
        ),
        (
            ["--coordinator", "localhost", "--num-processes", "2", "--process-id", "0"],
            ["run(): --coordinator must be 'HOST:PORT' with a port in 1..65535"],
        ),
        (
            ["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"],
            ["run(): --process-id must be an int in [0, 1]; got 2"],
        ),
        (
            [
                "--coordinator",
                "h:1",
                "--num-processes",
                "2",
                "--process-id",
                "0",
                "--summary",
                "0.5",
            ],
            ["run(): --summary must be unset in a multi-process run"],
        ),
        (["--devices", "most"], ["--devices", "expected 'all' or a count >= 1"]),
    ],
)
def test_the_command_line_refuses_bad_multi_process_flags(argv, words, capsys):
    """Refused before anything joins or runs: exit status 2, the house message in
    the command line's words."""
    from collapse_jax import cli

    assert cli.main(["run", "gaussian", "--num-chains", "8", *argv]) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, (w, err)
    assert not jax.distributed.is_initialized()


def test_the_command_line_runs_on_all_local_devices(tmp_path, capsys):
    from collapse_jax import cli

    argv = [
        "run",
        "gaussian",
        "--num-chains",
        "8",
        "--num-generations",
        "2",
        "--no-figures",
        "-q",
        "--devices",
        "all",
        "-o",
        str(tmp_path / "r"),
    ]
    assert cli.main(argv) == 0
    assert json.loads((tmp_path / "r" / "run.json").read_text())["devices"] == len(
        jax.local_devices()
    )

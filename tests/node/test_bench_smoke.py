"""The throughput benchmark runs end to end with tiny counts and prints its table."""
from __future__ import annotations


def test_benchmark_prints_in_process_end_to_end_and_ratio_rows(load_bench):
    lines: list[str] = []
    report = load_bench("throughput").main(["--count", "16", "--modes", "automine"], out=lines.append)
    assert set(report.in_process) == {"eth", "erc20"} and all(r > 0 for r in report.in_process.values())
    assert all(r > 0 for r in report.end_to_end["automine"].values())
    assert all(r > 0 for r in report.end_to_end["automine, single"].values())   # one tx per request
    text = "\n".join(lines)
    assert "(a) in-process build_block" in text and "(b) JSON-RPC automine" in text
    assert "(c) ratio automine" in text and "(c) ratio automine, single" in text
    # where the CPU went: the node's, its gateway's and the client's per transaction, beside the
    # in-process build's
    node_ms, gateway_ms, client_ms = report.cpu["automine, single"]["erc20"]
    assert node_ms > 0 and gateway_ms > 0 and client_ms > 0
    assert "(d) CPU ms/tx in-process build" in text and "(d) CPU ms/tx node, automine, single" in text
    assert "(f) node busy (CPU s/s), automine, single" in text
    assert "(f) busy-node ceiling / (a), automine, single" in text


def test_the_report_says_how_busy_the_node_was_and_its_ceiling(load_bench):
    """(f): the node's CPU seconds per second of the run (rate x CPU per transaction), and the
    rate a node busy all the time would reach (1000 / its CPU ms per transaction) over (a)."""
    throughput = load_bench("throughput")
    report = throughput.Report(
        in_process={"eth": 2000.0, "erc20": 1000.0},
        end_to_end={"block-time, single": {"eth": 1000.0, "erc20": 700.0}},
        cpu={"block-time, single": {"eth": (0.5, 0.3, 0.1), "erc20": (1.25, 0.4, 0.1)}})
    rows = {" ".join(line.split()[:-2]): line.split()[-2:] for line in report.lines()}
    assert rows["(f) node busy (CPU s/s), block-time, single"] == ["0.50", "0.88"]
    assert rows["(f) busy-node ceiling / (a), block-time, single"] == ["1.00", "0.80"]


def test_the_single_mode_runs_with_the_lean_client_and_prints_the_block_gas_cap(load_bench):
    lines: list[str] = []
    report = load_bench("throughput").main(["--count", "16", "--modes", "block-time", "--send", "single",
                                            "--client", "lean"], out=lines.append)
    assert all(r > 0 for r in report.end_to_end["block-time, single"].values())
    # a second of 30M-gas blocks holds 30M / 21,000 ETH transfers, fewer ERC-20 transfers
    assert round(report.caps["eth"], 1) == 1428.6
    assert 300 < report.caps["erc20"] < 1000
    text = "\n".join(lines)
    assert "(a) gas cap of 1-s blocks" in text and "(c') / min(a, cap) block-time, single" in text


def test_the_single_mode_load_goes_to_another_node_to_compare(load_bench, tmp_path):
    """--compare sends the same load to another node's endpoint (Hardhat's, anvil's); here a
    second azora dev stands in for it."""
    throughput = load_bench("throughput")
    other = throughput.DevNode([], tmp_path / "other.log")
    try:
        lines: list[str] = []
        report = throughput.main(["--count", "16", "--modes", "automine", "--send", "single", "--client", "raw",
                                  "--compare", other.url], out=lines.append)
    finally:
        other.stop()
    url, rates = report.compared
    assert url == other.url and all(r > 0 for r in rates.values())
    text = "\n".join(lines)
    assert f"(e) {other.url}, single" in text and "(e) ratio automine, single / (e)" in text


def test_the_raw_client_reads_chunked_and_sized_answers_on_one_connection(load_bench):
    """``--client raw`` frames answers by Content-Length (the node's) or chunks (Hardhat's
    node), keep-alive, as a load against either needs."""
    import socket
    import threading

    common = load_bench("common")
    answers = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"7\r\n{\"id\":1\r\n6;ext=1\r\n,\"a\":2\r\n1\r\n}\r\n0\r\nX-Trailer: 1\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-length: 8\r\n\r\n{\"id\":2}"]
    server = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            for answer in answers:
                seen.append(connection.recv(4096))
                connection.sendall(answer)

    thread = threading.Thread(target=serve)
    thread.start()
    post = common.json_poster(f"http://127.0.0.1:{server.getsockname()[1]}/", "raw")
    assert post(b'{"q":1}') == {"id": 1, "a": 2}
    assert post(b'{"q":2}') == {"id": 2}
    thread.join(5)
    server.close()
    assert seen[0].startswith(b"POST / HTTP/1.1\r\n") and seen[0].endswith(b"Content-Length: 7\r\n\r\n{\"q\":1}")


def test_the_node_can_run_at_info_as_azora_dev_does_by_default(load_bench):
    import tempfile
    from pathlib import Path

    log = Path(tempfile.gettempdir()) / "azora-bench-automine-single.log"
    report = load_bench("throughput").main(["--count", "16", "--modes", "automine", "--send", "single",
                                            "--client", "raw", "--log-level", "INFO"], out=lambda line: None)
    assert all(r > 0 for r in report.end_to_end["automine, single"].values())
    printed = log.read_text(errors="replace")
    assert printed.count("Status: success") >= 2 * 16    # every transfer of both kinds, as it was mined


def test_the_full_blocks_rate_leaves_out_the_ramp_and_the_last_tick(load_bench):
    """(g): blocks 11-13 were produced wholly under load, from block 10's arrival to block
    13's; the first block holding transactions (a ramp) and the last (a tail) only bound
    them, and empty blocks around the run do not count."""
    clock = load_bench("throughput").BlockClock
    seen = {9: 0.0, 10: 1.0, 11: 2.0, 12: 3.1, 13: 4.0, 14: 5.0, 15: 6.0}
    counts = {9: 0, 10: 300, 11: 1000, 12: 1100, 13: 900, 14: 200, 15: 0}
    stamps = {number: 100 + number for number in seen}
    assert clock.rate_of(seen, counts, stamps) == 3000 / 3.0
    assert clock.rate_of(seen, {**counts, 11: 0, 12: 0, 13: 0}, stamps) is None   # one block between two: none full
    assert clock.rate_of(seen, {**counts, 12: 0}, stamps) == 1900 / 3.0          # an empty block inside still counts
    # block 10 seen half a second late (its tick waited for a burst of sends): the stamps' span
    assert clock.rate_of({**seen, 10: 1.5}, counts, stamps) == 3000 / 3.0
    # a producer behind its ticks: the stamps say three seconds, the blocks took four
    assert clock.rate_of({**seen, 13: 5.0}, counts, stamps) == 3000 / 4.0


def test_the_report_prints_the_full_blocks_rows_against_a_and_the_compared_node(load_bench):
    throughput = load_bench("throughput")
    report = throughput.Report(
        in_process={"eth": 2000.0, "erc20": 1000.0},
        end_to_end={"block-time, single": {"eth": 1000.0, "erc20": 700.0}},
        compared=("http://other", {"eth": 1500.0, "erc20": 800.0}),
        full_blocks={"block-time, single": {"erc20": 850.0}},
        compared_full={"eth": 1600.0, "erc20": 850.0})
    rows = {" ".join(line.split()[:-2]): line.split()[-2:] for line in report.lines()}
    assert rows["(g) full blocks, block-time, single"] == ["-", "850.0"]
    assert rows["(g) ratio full blocks / (a), block-time, single"] == ["-", "0.85"]
    assert rows["(g) full blocks, http://other"] == ["1600.0", "850.0"]
    assert rows["(g) ratio block-time, single / its"] == ["-", "1.00"]


def test_repeated_runs_report_each_kinds_median_run_whole(load_bench):
    """--repeat N: per kind, the run whose rate is the median, its CPU and full-block figures
    with it (not medians taken figure by figure from different runs)."""
    median_run = load_bench("throughput").median_run
    runs = [({"eth": rate, "erc20": 1000 - rate}, {"eth": (rate, 0, 0), "erc20": (-rate, 0, 0)},
             {"eth": 1.0, "erc20": 2.0}, {"eth": rate + 1} if rate != 300 else {}) for rate in (500, 100, 300, 700)]
    rates, cpu, caps, full = median_run(runs)
    assert rates == {"eth": 300, "erc20": 500} and cpu == {"eth": (300, 0, 0), "erc20": (-500, 0, 0)}
    assert caps == {"eth": 1.0, "erc20": 2.0} and full == {}
    assert median_run(runs[:1]) == (runs[0][0], runs[0][1], runs[0][2], runs[0][3])

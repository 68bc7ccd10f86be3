"""geth's browser and host checks on a real `azora dev`: --http.corsdomain (pages from this
machine by default) and --http.vhosts (localhost by default, IP addresses always), and a
warning when RPC listens beyond this machine with no rate limit."""
from __future__ import annotations

import time

import requests

BLOCK_NUMBER = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}


def post(node, **headers) -> requests.Response:
    return requests.post(node.url, json=BLOCK_NUMBER, headers=headers, timeout=30)


def test_default_hosts_and_origins_are_this_machines(start_azora):
    node = start_azora("dev")
    assert post(node).json()["result"].startswith("0x")                      # Host 127.0.0.1:port
    assert post(node, Host=f"localhost:{node.port}").status_code == 200
    refused = post(node, Host="attacker.example")                              # DNS rebinding
    assert refused.status_code == 403 and refused.text == "invalid host specified\n"
    assert post(node, Host="attacker.example:80").status_code == 403
    local_page = post(node, Origin="http://localhost:3000")
    assert local_page.headers["access-control-allow-origin"] == "http://localhost:3000"
    foreign_page = post(node, Origin="https://attacker.example")
    assert "access-control-allow-origin" not in foreign_page.headers
    preflight = requests.options(node.url, headers={"Origin": "https://attacker.example",
                                                    "Access-Control-Request-Method": "POST"}, timeout=30)
    assert preflight.status_code == 400
    assert "JSON-RPC listens on" not in node.log()


def test_listed_hosts_and_origins_and_wildcards(start_azora):
    node = start_azora("dev", "--http.vhosts", "node.internal", "--http.corsdomain", "https://app.example")
    assert post(node, Host="node.internal").status_code == 200
    assert post(node, Host=f"localhost:{node.port}").status_code == 403        # no longer listed
    assert post(node, Origin="https://app.example").headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in post(node, Origin="http://localhost:3000").headers
    open_node = start_azora("dev", "--http.vhosts", "*", "--http.corsdomain", "*")
    assert post(open_node, Host="anything.example").status_code == 200
    assert post(open_node, Origin="https://anywhere.example").headers["access-control-allow-origin"] == "*"


def test_rpc_beyond_this_machine_without_a_rate_limit_is_warned_about(start_azora):
    node = start_azora("dev", "--http.addr", "0.0.0.0")
    deadline = time.time() + 10
    while "JSON-RPC listens on 0.0.0.0" not in node.log() and time.time() < deadline:
        time.sleep(0.2)
    assert "beyond this machine, with no rate limit" in node.log()
    limited = start_azora("dev", "--http.addr", "0.0.0.0", "--http.ratelimit", "1000")
    assert post(limited).status_code == 200
    assert "JSON-RPC listens on" not in limited.log()

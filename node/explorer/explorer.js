// Azora explorer: one read-only page over the node's own JSON-RPC (same origin, no external assets).
// Views are hash routes: #/, #/block/N|HASH, #/tx/HASH, #/address/ADDR, #/validators, #/proposals.
"use strict";

const LATEST_BLOCKS = 15;
const SIGNED_WINDOW = 100;          // blocks over which the validator view counts signatures
const PROPOSAL_STATES = ["Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed"];
const OPEN_STATES = new Set(["Pending", "Active", "Succeeded", "Queued"]);
const FAILED_STATES = new Set(["Canceled", "Defeated", "Expired"]);
const VOTE_SUPPORT = ["Against", "For", "Abstain"];

let rpcId = 0;
let abiIndex = null;                // /explorer/abi.json: {abis, events, functions}
let systemContracts = {};           // name -> address, from azora_nodeInfo
let selectors = {};                 // selector -> {contract, entry}

// ---------------------------------------------------------------- JSON-RPC

async function rpc(method, params = []) {
  const response = await fetch("/", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({jsonrpc: "2.0", id: ++rpcId, method, params})});
  const body = await response.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

// Many reads in one HTTP request; a failed call answers null so one bad read spoils nothing.
async function rpcBatch(calls) {
  if (calls.length === 0) return [];
  const requests = calls.map(([method, params], i) => ({jsonrpc: "2.0", id: i, method, params}));
  const response = await fetch("/", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify(requests)});
  const answers = await response.json();
  const byId = new Map(answers.map(a => [a.id, a]));
  return calls.map((_, i) => (byId.get(i) && !byId.get(i).error) ? byId.get(i).result : null);
}

// ---------------------------------------------------------------- ABI

const strip0x = hex => hex.startsWith("0x") ? hex.slice(2) : hex;
const wordAt = (data, at) => data.slice(at * 2, at * 2 + 64);
const uintAt = (data, at) => Number(BigInt("0x" + (wordAt(data, at) || "0")));
const pad32 = hex => strip0x(hex).toLowerCase().padStart(64, "0");

function arrayElement(type) {
  const match = type.match(/^(.*)\[(\d*)\]$/);
  return match ? {inner: match[1], length: match[2] === "" ? null : Number(match[2])} : null;
}

function isDynamic(param) {
  const array = arrayElement(param.type);
  if (array) return array.length === null || isDynamic({...param, type: array.inner});
  if (param.type === "tuple") return param.components.some(isDynamic);
  return param.type === "string" || param.type === "bytes";
}

function headSize(param) {
  if (isDynamic(param)) return 32;
  const array = arrayElement(param.type);
  if (array) return array.length * headSize({...param, type: array.inner});
  if (param.type === "tuple") return param.components.reduce((sum, c) => sum + headSize(c), 0);
  return 32;
}

function decodeTuple(params, data, base) {
  const values = [];
  let pos = base;
  for (const param of params) {
    const at = isDynamic(param) ? base + uintAt(data, pos) : pos;
    values.push(decodeValue(param, data, at));
    pos += headSize(param);
  }
  return values;
}

function decodeBytes(data, at) {
  const length = uintAt(data, at);
  return "0x" + data.slice((at + 32) * 2, (at + 32 + length) * 2);
}

function utf8(hex) {
  const bytes = new Uint8Array((strip0x(hex).match(/../g) || []).map(b => parseInt(b, 16)));
  return new TextDecoder().decode(bytes);
}

function decodeValue(param, data, at) {
  const array = arrayElement(param.type);
  if (array) {
    const element = {...param, type: array.inner};
    const length = array.length === null ? uintAt(data, at) : array.length;
    return decodeTuple(Array(length).fill(element), data, array.length === null ? at + 32 : at);
  }
  if (param.type === "tuple") {
    const values = decodeTuple(param.components, data, at);
    return Object.fromEntries(param.components.map((c, i) => [c.name || String(i), values[i]]));
  }
  const word = wordAt(data, at);
  if (param.type === "address") return "0x" + word.slice(24);
  if (param.type === "bool") return BigInt("0x" + word) !== 0n;
  if (param.type === "bytes") return decodeBytes(data, at);
  if (param.type === "string") return utf8(decodeBytes(data, at));
  if (param.type.startsWith("bytes")) return "0x" + word.slice(0, 2 * Number(param.type.slice(5)));
  if (param.type.startsWith("uint")) return BigInt("0x" + word).toString();
  if (param.type.startsWith("int")) return BigInt.asIntN(Number(param.type.slice(3)) || 256, BigInt("0x" + word)).toString();
  return "0x" + word;
}

function decodeOutputs(contract, name, hex) {
  const entry = abiIndex.abis[contract].find(e => e.type === "function" && e.name === name);
  return decodeTuple(entry.outputs, strip0x(hex), 0);
}

// An event of a system contract: indexed arguments from the topics, the rest from the data.
function decodeLog(log) {
  const event = abiIndex.events[log.topics[0]];
  if (!event) return null;
  const data = strip0x(log.data);
  const unindexed = event.inputs.filter(i => !i.indexed);
  const values = decodeTuple(unindexed, data, 0);
  let topic = 1;
  const args = event.inputs.map(input => {
    if (input.indexed) {
      const raw = log.topics[topic++];
      // An indexed dynamic value is only its hash in the topic.
      return [input, isDynamic(input) ? raw : decodeValue(input, strip0x(raw), 0)];
    }
    return [input, values[unindexed.indexOf(input)]];
  });
  return {contract: event.contract, name: event.name, args};
}

function decodeInput(input) {
  const found = selectors[(input || "").slice(0, 10)];
  if (!found) return null;
  const values = decodeTuple(found.entry.inputs, strip0x(input).slice(8), 0);
  return {contract: found.contract, name: found.entry.name, args: found.entry.inputs.map((p, i) => [p, values[i]])};
}

// eth_call of a system contract's view function with address/uint arguments.
function callData(contract, name, args = []) {
  return abiIndex.functions[contract][name] + args.map(a => typeof a === "number" ? pad32(a.toString(16)) : pad32(a)).join("");
}

function viewCall(contract, name, args = [], to = null) {
  return ["eth_call", [{to: to || systemContracts[contract], data: callData(contract, name, args)}, "latest"]];
}

// ---------------------------------------------------------------- formatting

const escapeHtml = text => String(text).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const num = hex => hex == null ? null : Number(BigInt(hex));
const short = hex => hex && hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex;
const nameOf = address => Object.entries(systemContracts).find(([, a]) => a.toLowerCase() === (address || "").toLowerCase());

function addressLink(address, full = false) {
  if (!address) return '<span class="muted">—</span>';
  const contract = nameOf(address);
  const label = contract ? `${contract[0]} ` : "";
  return `<a class="mono" href="#/address/${address}">${escapeHtml(label)}${escapeHtml(full ? address : short(address))}</a>`;
}
const blockLink = (n, label) => `<a href="#/block/${n}">${escapeHtml(label ?? n)}</a>`;
const txLink = (hash, full = false) => `<a class="mono" href="#/tx/${hash}">${escapeHtml(full ? hash : short(hash))}</a>`;

function formatUnits(value, decimals = 18) {
  const v = BigInt(value);
  const unit = 10n ** BigInt(decimals);
  const fraction = (v % unit).toString().padStart(decimals, "0").replace(/0+$/, "");
  return (v / unit).toString() + (fraction ? "." + fraction.slice(0, 6) : "");
}

function formatTime(hexSeconds) {
  return new Date(num(hexSeconds) * 1000).toISOString().replace("T", " ").replace(".000Z", " UTC");
}

function formatArg(param, value) {
  if (param.type === "address") return addressLink(value, true);
  if (Array.isArray(value)) return "[" + value.map(v => formatArg({...param, type: arrayElement(param.type)?.inner || ""}, v)).join(", ") + "]";
  if (value !== null && typeof value === "object") return escapeHtml(JSON.stringify(value));
  return `<span class="mono">${escapeHtml(value)}</span>`;
}

function decodedTable(decoded) {
  const rows = decoded.args.map(([p, v]) => `<tr><th>${escapeHtml(p.name || "")} <span class="muted">${escapeHtml(p.type)}</span></th><td>${formatArg(p, v)}</td></tr>`).join("");
  return `<div><b>${escapeHtml(decoded.contract)}.${escapeHtml(decoded.name)}</b></div><table class="kv">${rows}</table>`;
}

const kv = rows => `<table class="kv">${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${v}</td></tr>`).join("")}</table>`;

function signerList(commit) {
  if (!commit) return '<span class="muted">none</span>';
  return commit.signatures.map(s => addressLink(s.validator)).join(", ");
}

// The parent commit's signers as block H+1's extraData bitmap names them (over H's set by address).
function bitmapSigners(extraData, validators) {
  const bits = strip0x(extraData || "");
  if (!validators || bits.length === 0) return [];
  const sorted = validators.map(v => v.address.toLowerCase()).sort();
  return sorted.filter((_, i) => (parseInt(bits.slice(Math.floor(i / 8) * 2, Math.floor(i / 8) * 2 + 2) || "0", 16) & (0x80 >> (i % 8))) !== 0);
}

// ---------------------------------------------------------------- views

async function viewHome() {
  const head = num(await rpc("eth_blockNumber"));
  const numbers = [];
  for (let n = head; n >= 0 && numbers.length < LATEST_BLOCKS; n--) numbers.push(n);
  const answers = await rpcBatch(numbers.flatMap(n => [["eth_getBlockByNumber", ["0x" + n.toString(16), false]], ["azora_getCommit", ["0x" + n.toString(16)]]]));
  const rows = numbers.map((n, i) => {
    const block = answers[2 * i], commit = answers[2 * i + 1];
    if (!block) return "";
    return `<tr><td>${blockLink(n)}</td><td><a class="mono" href="#/block/${block.hash}" title="${block.hash}">${short(block.hash)}</a></td><td>${formatTime(block.timestamp)}</td>
      <td>${block.transactions.length}</td><td>${num(block.gasUsed)}</td><td>${addressLink(block.miner)}</td><td>${signerList(commit)}</td></tr>`;
  }).join("");
  return `<h2>Latest blocks</h2><table id="latest-blocks"><tr><th>Block</th><th>Hash</th><th>Time</th><th>Txs</th><th>Gas used</th><th>Proposer</th><th>Commit signers</th></tr>${rows}</table>`;
}

async function viewBlock(id) {
  const byHash = id.startsWith("0x") && id.length === 66;
  const block = byHash ? await rpc("eth_getBlockByHash", [id, true]) : await rpc("eth_getBlockByNumber", ["0x" + Number(id).toString(16), true]);
  if (!block) return `<h2>Block ${escapeHtml(id)}</h2><p class="error">not found</p>`;
  const n = num(block.number);
  const [commit, validators, child] = await rpcBatch([["azora_getCommit", [block.number]], ["azora_validators", [block.number]],
    ["eth_getBlockByNumber", ["0x" + (n + 1).toString(16), false]]]);
  const fromBitmap = child ? bitmapSigners(child.extraData, validators) : [];
  const txs = block.transactions.map(tx => {
    const decoded = decodeInput(tx.input);
    return `<tr><td>${txLink(tx.hash)}</td><td>${addressLink(tx.from)}</td><td>${tx.to ? addressLink(tx.to) : '<span class="pill">create</span>'}</td>
      <td>${formatUnits(tx.value)} AZR</td><td>${decoded ? escapeHtml(decoded.contract + "." + decoded.name) : ""}</td></tr>`;
  }).join("");
  return `<h2>Block #${n}</h2>` + kv([
    ["Hash", `<span class="mono">${block.hash}</span>`],
    ["Parent", `<a class="mono" href="#/block/${block.parentHash}">${block.parentHash}</a>`],
    ["Time", formatTime(block.timestamp)],
    ["Proposer (coinbase)", addressLink(block.miner, true)],
    ["Commit", commit ? `round ${num(commit.round)}, ${commit.signatures.length} of ${(validators || []).length} validators` : '<span class="muted">none</span>'],
    ["Commit signers", signerList(commit)],
    ["Signers in block #" + (n + 1) + "'s bitmap", child ? (fromBitmap.map(a => addressLink(a)).join(", ") || '<span class="muted">none</span>') : '<span class="muted">not yet proposed</span>'],
    ["Gas used / limit", `${num(block.gasUsed)} / ${num(block.gasLimit)}`],
    ["Base fee", block.baseFeePerGas ? `${num(block.baseFeePerGas)} wei` : "—"],
    ["Extra data", `<span class="mono">${block.extraData}</span>`],
    ["State root", `<span class="mono">${block.stateRoot}</span>`],
  ]) + `<h3>Transactions (${block.transactions.length})</h3><table><tr><th>Hash</th><th>From</th><th>To</th><th>Value</th><th>Call</th></tr>${txs}</table>`;
}

async function viewTx(hash) {
  const [tx, receipt] = await rpcBatch([["eth_getTransactionByHash", [hash]], ["eth_getTransactionReceipt", [hash]]]);
  if (!tx) return `<h2>Transaction</h2><p class="error">not found: ${escapeHtml(hash)}</p>`;
  const decoded = decodeInput(tx.input);
  const logs = (receipt ? receipt.logs : []).map(log => {
    const event = decodeLog(log);
    const body = event ? decodedTable(event) : `<div class="mono">topics: ${log.topics.map(escapeHtml).join(", ")}</div><div class="mono">data: ${escapeHtml(log.data)}</div>`;
    return `<div class="log"><div class="muted">log ${num(log.logIndex)} from ${addressLink(log.address, true)}</div>${body}</div>`;
  }).join("");
  const status = receipt ? (receipt.status === "0x1" ? '<span class="pill">success</span>' : '<span class="pill bad">reverted</span>') : '<span class="pill">pending</span>';
  return `<h2>Transaction</h2>` + kv([
    ["Hash", `<span class="mono">${tx.hash}</span>`],
    ["Status", status],
    ["Block", tx.blockNumber ? blockLink(num(tx.blockNumber)) : "pending"],
    ["From", addressLink(tx.from, true)],
    ["To", tx.to ? addressLink(tx.to, true) : `created ${addressLink(receipt && receipt.contractAddress, true)}`],
    ["Value", `${formatUnits(tx.value)} AZR`],
    ["Nonce", num(tx.nonce)],
    ["Gas used", receipt ? num(receipt.gasUsed) : "—"],
    ["Effective gas price", receipt ? `${num(receipt.effectiveGasPrice)} wei` : "—"],
    ["Input", decoded ? decodedTable(decoded) : `<span class="mono">${escapeHtml(short(tx.input))}</span>`],
  ]) + `<h3>Logs (${receipt ? receipt.logs.length : 0})</h3>${logs || '<p class="muted">none</p>'}`;
}

async function aTokenBalances(address) {
  if (!systemContracts.ATokenFactory) return [];
  const [count] = await rpcBatch([viewCall("ATokenFactory", "tokenCount")]);
  const total = count ? Number(decodeOutputs("ATokenFactory", "tokenCount", count)[0]) : 0;
  const tokens = (await rpcBatch(Array.from({length: total}, (_, i) => viewCall("ATokenFactory", "allTokens", [i]))))
    .filter(Boolean).map(hex => decodeOutputs("ATokenFactory", "allTokens", hex)[0]);
  const answers = await rpcBatch(tokens.flatMap(token => [viewCall("AToken", "symbol", [], token), viewCall("AToken", "balanceOf", [address], token)]));
  return tokens.map((token, i) => ({token, symbol: answers[2 * i] ? decodeOutputs("AToken", "symbol", answers[2 * i])[0] : "?",
    balance: answers[2 * i + 1] ? decodeOutputs("AToken", "balanceOf", answers[2 * i + 1])[0] : "0"}));
}

async function credentialsOf(address) {
  if (!systemContracts.Credentials) return [];
  const [count] = await rpcBatch([viewCall("Credentials", "balanceOf", [address])]);
  const total = count ? Number(decodeOutputs("Credentials", "balanceOf", count)[0]) : 0;
  const ids = (await rpcBatch(Array.from({length: total}, (_, i) => viewCall("Credentials", "tokenOfOwnerByIndex", [address, i]))))
    .filter(Boolean).map(hex => decodeOutputs("Credentials", "tokenOfOwnerByIndex", hex)[0]);
  const answers = await rpcBatch(ids.flatMap(id => [viewCall("Credentials", "verify", [BigInt(id).toString(16)]), viewCall("Credentials", "courseOf", [BigInt(id).toString(16)])]));
  const statuses = ["none", "valid", "revoked", "expired"];
  return ids.map((id, i) => {
    const verified = answers[2 * i] ? decodeOutputs("Credentials", "verify", answers[2 * i]) : null;
    return {id, status: verified ? statuses[Number(verified[0])] || verified[0] : "?", issuer: verified ? verified[1] : null,
      course: answers[2 * i + 1] ? decodeOutputs("Credentials", "courseOf", answers[2 * i + 1])[0] : "?"};
  });
}

async function viewAddress(address) {
  const [balance, nonce, code, azr] = await rpcBatch([["eth_getBalance", [address, "latest"]], ["eth_getTransactionCount", [address, "latest"]],
    ["eth_getCode", [address, "latest"]], systemContracts.AZR ? viewCall("AZR", "balanceOf", [address]) : ["web3_clientVersion", []]]);
  const [tokens, credentials] = await Promise.all([aTokenBalances(address), credentialsOf(address)]);
  const contract = nameOf(address);
  const tokenRows = tokens.map(t => `<tr><td>${escapeHtml(t.symbol)}</td><td>${addressLink(t.token, true)}</td><td>${formatUnits(t.balance)}</td></tr>`).join("");
  const credentialRows = credentials.map(c => `<tr><td>${escapeHtml(c.id)}</td><td><span class="pill${c.status === "valid" ? "" : " bad"}">${escapeHtml(c.status)}</span></td><td class="mono">${escapeHtml(c.course)}</td><td>${addressLink(c.issuer)}</td></tr>`).join("");
  return `<h2>Address <span class="mono">${escapeHtml(address)}</span></h2>` + kv([
    ["Kind", contract ? `system contract <b>${escapeHtml(contract[0])}</b>` : (code && code !== "0x" ? "contract" : "account")],
    ["Native balance", `<span id="native-balance">${balance ? formatUnits(balance) : "?"}</span> AZR`],
    ["AZR token balance", systemContracts.AZR && azr ? `${formatUnits(decodeOutputs("AZR", "balanceOf", azr)[0])} AZR (ERC-20)` : "—"],
    ["Nonce", num(nonce)],
    ["Code size", code ? `${strip0x(code).length / 2} bytes` : "—"],
  ]) + `<h3>a-tokens</h3>${tokens.length ? `<table><tr><th>Symbol</th><th>Token</th><th>Balance</th></tr>${tokenRows}</table>` : '<p class="muted">none issued</p>'}`
    + `<h3>Credentials</h3>${credentials.length ? `<table><tr><th>Id</th><th>Status</th><th>Course</th><th>Issuer</th></tr>${credentialRows}</table>` : '<p class="muted">none</p>'}`;
}

async function viewValidators() {
  const head = num(await rpc("eth_blockNumber"));
  const validators = head > 0 ? await rpc("azora_validators", ["latest"]) : [];
  const from = Math.max(1, head - SIGNED_WINDOW + 1);
  const heights = [];
  for (let n = from; n <= head; n++) heights.push(n);
  const commits = await rpcBatch(heights.map(n => ["azora_getCommit", ["0x" + n.toString(16)]]));
  const blocks = await rpcBatch(heights.map(n => ["eth_getBlockByNumber", ["0x" + n.toString(16), false]]));
  const signed = new Map(), proposed = new Map();
  for (const commit of commits) for (const s of (commit ? commit.signatures : [])) signed.set(s.validator.toLowerCase(), (signed.get(s.validator.toLowerCase()) || 0) + 1);
  for (const block of blocks) if (block) proposed.set(block.miner.toLowerCase(), (proposed.get(block.miner.toLowerCase()) || 0) + 1);
  const total = (validators || []).reduce((sum, v) => sum + num(v.power), 0);
  const rows = (validators || []).map(v => `<tr><td>${addressLink(v.address, true)}</td><td>${num(v.power)}</td><td>${total ? (100 * num(v.power) / total).toFixed(1) : 0}%</td>
    <td>${signed.get(v.address.toLowerCase()) || 0} / ${heights.length}</td><td>${proposed.get(v.address.toLowerCase()) || 0}</td></tr>`).join("");
  return `<h2>Validator set at #${head}</h2><p class="muted">Blocks signed and proposed over blocks #${from}–#${head}.</p>
    <table id="validators"><tr><th>Validator</th><th>Power</th><th>Share</th><th>Blocks signed</th><th>Blocks proposed</th></tr>${rows}</table>`;
}

async function viewProposals() {
  const governor = systemContracts.Governor;
  if (!governor) return '<h2>Proposals</h2><p class="muted">this chain has no Governor</p>';
  const created = Object.entries(abiIndex.events).find(([, e]) => e.contract === "Governor" && e.name === "ProposalCreated")[0];
  const voteCast = Object.entries(abiIndex.events).find(([, e]) => e.contract === "Governor" && e.name === "VoteCast")[0];
  const [createdLogs, voteLogs] = await rpcBatch([["eth_getLogs", [{address: governor, fromBlock: "0x0", toBlock: "latest", topics: [created]}]],
    ["eth_getLogs", [{address: governor, fromBlock: "0x0", toBlock: "latest", topics: [voteCast]}]]]);
  const proposals = (createdLogs || []).map(log => ({log, event: decodeLog(log)})).map(({log, event}) => ({log, ...Object.fromEntries(event.args.map(([p, v]) => [p.name, v]))}));
  const answers = await rpcBatch(proposals.flatMap(p => [viewCall("Governor", "state", [BigInt(p.proposalId).toString(16)]), viewCall("Governor", "proposals", [BigInt(p.proposalId).toString(16)])]));
  const votes = (voteLogs || []).map(decodeLog).map(e => Object.fromEntries(e.args.map(([p, v]) => [p.name, v])));
  const sections = proposals.map((p, i) => {
    const state = answers[2 * i] ? PROPOSAL_STATES[Number(decodeOutputs("Governor", "state", answers[2 * i])[0])] : "?";
    const tally = answers[2 * i + 1] ? decodeOutputs("Governor", "proposals", answers[2 * i + 1])[0] : null;
    const ballots = votes.filter(v => v.proposalId === p.proposalId).map(v => `<tr><td>${addressLink(v.voter, true)}</td><td>${VOTE_SUPPORT[Number(v.support)] || v.support}</td><td>${formatUnits(v.weight)}</td><td>${escapeHtml(v.reason)}</td></tr>`).join("");
    return `<div class="log proposal" data-state="${state}"><div><b>${escapeHtml(p.description.split("\n")[0])}</b> <span class="pill${FAILED_STATES.has(state) ? " bad" : ""}">${state}</span></div>` + kv([
      ["Proposal id", `<span class="mono">${escapeHtml(p.proposalId)}</span>`],
      ["Proposer", addressLink(p.proposer, true)],
      ["Created in", txLink(p.log.transactionHash) + " at block " + blockLink(num(p.log.blockNumber))],
      ["Voting", `blocks ${escapeHtml(p.voteStart)} – ${escapeHtml(p.voteEnd)}`],
      ["Votes", tally ? `For ${formatUnits(tally.forVotes)} · Against ${formatUnits(tally.againstVotes)} · Abstain ${formatUnits(tally.abstainVotes)}` : "?"],
      ["Actions", p.targets.map((t, j) => `${addressLink(t)} ${escapeHtml(short(p.calldatas[j]))}`).join("<br>")],
    ]) + (ballots ? `<table><tr><th>Voter</th><th>Support</th><th>Weight</th><th>Reason</th></tr>${ballots}</table>` : '<p class="muted">no votes yet</p>') + "</div>";
  });
  const open = sections.filter((_, i) => answers[2 * i] && OPEN_STATES.has(PROPOSAL_STATES[Number(decodeOutputs("Governor", "state", answers[2 * i])[0])]));
  const closed = sections.filter(s => !open.includes(s));
  return `<h2>Open proposals (${open.length})</h2>${open.join("") || '<p class="muted">none</p>'}<h3>Closed proposals (${closed.length})</h3>${closed.join("") || '<p class="muted">none</p>'}`;
}

// ---------------------------------------------------------------- routing and search

async function resolveSearch(query) {
  const q = query.trim();
  if (/^\d+$/.test(q)) return `#/block/${q}`;
  if (/^0x[0-9a-fA-F]{40}$/.test(q)) return `#/address/${q}`;
  if (/^0x[0-9a-fA-F]{64}$/.test(q)) return (await rpc("eth_getTransactionByHash", [q])) ? `#/tx/${q}` : `#/block/${q}`;
  return null;
}

async function route() {
  const view = document.getElementById("view");
  const [, kind, arg] = (location.hash || "#/").split("/");
  try {
    let html;
    if (kind === "block") html = await viewBlock(decodeURIComponent(arg));
    else if (kind === "tx") html = await viewTx(decodeURIComponent(arg));
    else if (kind === "address") html = await viewAddress(decodeURIComponent(arg));
    else if (kind === "validators") html = await viewValidators();
    else if (kind === "proposals") html = await viewProposals();
    else if (kind === "search") {
      const target = await resolveSearch(decodeURIComponent(arg || ""));
      if (target) { location.replace(target); return; }
      html = `<p class="error">nothing matches “${escapeHtml(decodeURIComponent(arg || ""))}”: enter a block number, a block or transaction hash, or an address</p>`;
    } else html = await viewHome();
    view.innerHTML = html;
    view.dataset.ready = kind || "home";
  } catch (error) {
    view.innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`;
  }
}

async function start() {
  const [index, info] = await Promise.all([fetch("/explorer/abi.json").then(r => r.json()), rpc("azora_nodeInfo")]);
  abiIndex = index;
  systemContracts = info.contracts || {};
  for (const [contract, functions] of Object.entries(abiIndex.functions)) {
    for (const [name, selector] of Object.entries(functions)) {
      const entry = abiIndex.abis[contract].find(e => e.type === "function" && e.name === name);
      if (!selectors[selector] || systemContracts[contract]) selectors[selector] = {contract, entry};
    }
  }
  document.getElementById("status").textContent = `${info.client} · chain ${num(info.chainId)} · genesis ${info.genesisHash}${info.dev ? " · dev" : ""}`;
  document.getElementById("search").addEventListener("submit", event => {
    event.preventDefault();
    location.hash = `#/search/${encodeURIComponent(document.getElementById("q").value)}`;
  });
  window.addEventListener("hashchange", route);
  await route();
}

start().catch(error => { document.getElementById("view").innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`; });

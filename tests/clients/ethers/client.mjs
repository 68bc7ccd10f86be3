// ethers v6 against an Azora node, as a dApp would use it: no plugin, no custom provider.
// Usage: node client.mjs RPC_URL PRIVATE_KEY ARTIFACT_JSON
import { readFileSync } from "node:fs";
import { ethers } from "ethers";

const [rpc, privateKey, artifactPath] = process.argv.slice(2);
const artifact = JSON.parse(readFileSync(artifactPath, "utf8"));
// ethers caches identical requests for 250 ms; against an automining chain (anvil, hardhat,
// azora dev) a nonce read right after the previous transaction was mined would come from that
// cache, so — as with those chains — turn the cache off.
const provider = new ethers.JsonRpcProvider(rpc, undefined, { cacheTimeout: -1 });
const wallet = new ethers.Wallet(privateKey, provider);
const out = {};

const network = await provider.getNetwork();
out.chainId = Number(network.chainId);
out.feeData = Object.fromEntries(Object.entries(await provider.getFeeData()).map(([k, v]) => [k, v?.toString() ?? null]));

const transfer = await wallet.sendTransaction({ to: ethers.Wallet.createRandom().address, value: 12345n });
const transferReceipt = await transfer.wait();
out.transferStatus = transferReceipt.status;

const factory = new ethers.ContractFactory(artifact.abi, artifact.bytecode, wallet);
const contract = await factory.deploy();
await contract.waitForDeployment();
out.address = await contract.getAddress();

const tx = await contract.store(7n, 42n);
const receipt = await tx.wait();
out.stored = (await contract.values(7n)).toString();
out.events = receipt.logs.map((log) => contract.interface.parseLog(log)?.name);
const logs = await contract.queryFilter(contract.filters.Stored(null, 7n), 0, "latest");
out.queriedEvents = logs.length;

try {
  await contract.store.staticCall(1n, 0n);
  out.revert = "no revert";
} catch (error) {
  out.revert = error.reason ?? error.shortMessage;
}
try {
  await contract.store.estimateGas(1n, 0n);
  out.estimateRevert = "no revert";
} catch (error) {
  out.estimateRevert = error.reason ?? error.shortMessage;
}
// A transaction with its gas limit given is sent without an estimate and mined although it
// reverts. ethers 6's wait() throws CALL_EXCEPTION with the receipt and reason null; the reason
// comes from re-running it as a call on the state it ran on.
const mined = await contract.store(1n, 0n, { gasLimit: 100_000n });
out.minedRevertTx = mined.hash;
try {
  await mined.wait();
  out.minedRevert = "no revert";
} catch (error) {
  out.minedRevertStatus = error.receipt?.status;
  out.minedRevertWaitReason = error.reason ?? null;
  try {
    await provider.call({ from: mined.from, to: mined.to, data: mined.data, value: mined.value,
                          blockTag: error.receipt.blockNumber - 1 });
    out.minedRevert = "no revert on re-run";
  } catch (replay) {
    out.minedRevert = replay.reason ?? replay.shortMessage;
  }
}
const block = await provider.getBlock("latest", true);
out.blockHasBaseFee = block.baseFeePerGas !== null;
console.log(JSON.stringify(out));

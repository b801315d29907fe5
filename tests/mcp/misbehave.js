// A tiny MCP stdio server that misbehaves on purpose, for Pluto's fault tests.
//   node misbehave.js crash     exits when a tool is called
//   node misbehave.js hang      never answers a tool call
//   node misbehave.js garbage   answers a tool call with a line that is not JSON
//   node misbehave.js iserror   answers with isError: true
// The handshake and tools/list work, so the failure happens where a real server's would.
const mode = process.argv[2] || "crash";
const readline = require("readline");
const rl = readline.createInterface({ input: process.stdin });
const send = (message) => process.stdout.write(JSON.stringify(message) + "\n");
rl.on("line", (line) => {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return;
  }
  const { id, method, params } = request;
  if (method === "initialize") {
    send({ jsonrpc: "2.0", id, result: {
      protocolVersion: params.protocolVersion,
      capabilities: { tools: {} },
      serverInfo: { name: "misbehave", version: "1.0.0" },
    } });
  } else if (method === "tools/list") {
    send({ jsonrpc: "2.0", id, result: { tools: [{
      name: "boom", description: "Misbehaves", inputSchema: { type: "object" },
    }] } });
  } else if (method === "tools/call") {
    process.stderr.write(`misbehaving: ${mode}\n`);
    if (mode === "crash") process.exit(3);
    if (mode === "garbage") process.stdout.write("this is {not json\n");
    if (mode === "iserror") send({ jsonrpc: "2.0", id, result: {
      content: [{ type: "text", text: "the tool failed on purpose" }], isError: true,
    } });
    // hang: say nothing
  } else if (id !== undefined) {
    send({ jsonrpc: "2.0", id, result: {} });
  }
});

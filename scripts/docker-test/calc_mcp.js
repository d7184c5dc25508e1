// A stdio MCP server in plain Node.js (the seed's `node ./calc_mcp.js`): scripts/docker-test.sh
// runs it in the image under the default High sandbox.
'use strict';
const readline = require('readline');

const tools = [
  {
    name: 'add',
    description: 'Add two numbers',
    inputSchema: {
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    },
  },
  { name: 'node_version', description: 'The Node.js version', inputSchema: { type: 'object', properties: {} } },
];

const send = (message) => process.stdout.write(JSON.stringify({ jsonrpc: '2.0', ...message }) + '\n');
const text = (id, value) => send({ id, result: { content: [{ type: 'text', text: String(value) }], isError: false } });

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    return;
  }
  if (msg.id === undefined) return; // a notification
  const params = msg.params || {};
  switch (msg.method) {
    case 'initialize':
      send({
        id: msg.id,
        result: {
          protocolVersion: params.protocolVersion || '2025-06-18',
          capabilities: { tools: {} },
          serverInfo: { name: 'calc-node', version: '1.0.0' },
        },
      });
      break;
    case 'tools/list':
      send({ id: msg.id, result: { tools } });
      break;
    case 'tools/call': {
      const args = params.arguments || {};
      if (params.name === 'add') text(msg.id, args.a + args.b);
      else if (params.name === 'node_version') text(msg.id, process.version);
      else send({ id: msg.id, error: { code: -32602, message: `unknown tool ${params.name}` } });
      break;
    }
    case 'ping':
      send({ id: msg.id, result: {} });
      break;
    default:
      send({ id: msg.id, error: { code: -32601, message: `method not found: ${msg.method}` } });
  }
}).on('close', () => process.exit(0));

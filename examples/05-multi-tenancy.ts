/**
 * Multi-tenancy by metadata. Agents and sessions carry JSON metadata (here `tenant_id`):
 * - an agent's metadata is part of its identity: two tenants can each have their own "support-agent", and
 *   getAgentByName(name, metadata) matches the metadata exactly, so it never returns another tenant's agent;
 * - listAgents / listSessions filter by metadata containment;
 * - run variables carry the tenant to the tools, which scope their data with it.
 *
 *   npx tsx examples/05-multi-tenancy.ts
 */
import { z } from 'zod';
import { AgentPG, defineTool, discardTool } from 'agentpg';
import { setup } from './_env.js';

// Each tenant's customers; a real tool would add `WHERE tenant_id = $1` to its query.
const customers: Record<string, Record<string, string>> = {
  'tenant-1': { 'cust-456': 'Grace Hopper, premium plan' },
  'tenant-2': { 'cust-456': 'Alan Turing, free plan' },
};

const getCustomer = defineTool({
  name: 'get_customer',
  description: 'Get customer information by customer id',
  input: z.object({ customer_id: z.string() }),
  execute: async ({ customer_id }, ctx) => {
    const tenant = ctx.variables.tenant_id;
    if (typeof tenant !== 'string') throw discardTool('no tenant_id variable on this run');
    return customers[tenant]?.[customer_id] ?? `no customer ${customer_id} in ${tenant}`;
  },
});

const env = await setup();
const client = new AgentPG(env.config);
try {
  client.registerTool(getCustomer);
  await client.start();

  for (const tenant of ['tenant-1', 'tenant-2']) {
    // Same name, different tenant: two distinct agents.
    const agent = await client.getOrCreateAgent({
      name: 'support-agent',
      model: env.model,
      systemPrompt: `You are the support agent of ${tenant}.`,
      tools: ['get_customer'],
      metadata: { tenant_id: tenant },
    });
    const sessionId = await client.newSession({ metadata: { tenant_id: tenant, user_id: 'user-123' } });
    const response = await client.runSync(sessionId, agent.id, 'Get the customer info of "cust-456".', {
      variables: { tenant_id: tenant, customer_id: 'cust-456' },
    });
    console.log(`${tenant}: agent ${agent.id.slice(0, 8)} → ${response.toolCalls[0]?.output}`);
  }

  // Look-ups by metadata.
  const t1Agent = await client.getAgentByName('support-agent', { tenant_id: 'tenant-1' });
  console.log(`getAgentByName(support-agent, tenant-1) → ${t1Agent.id.slice(0, 8)} (${t1Agent.systemPrompt})`);
  const sessions = await client.listSessions({ metadata: { tenant_id: 'tenant-1' } });
  console.log(`tenant-1 has ${sessions.total} session(s); agents of all tenants: ${(await client.listAgents()).total}`);
  const t2Agents = await client.listAgents({ metadata: { tenant_id: 'tenant-2' } });
  console.log(`tenant-2 agents: ${t2Agents.items.map((a) => a.name).join(', ')}`);
  // Without metadata, the lookup means "the agent with empty metadata": not some tenant's agent.
  await client.getAgentByName('support-agent').catch((err: Error) => console.log(`getAgentByName without tenant: ${err.message}`));
} finally {
  await client.stop();
  await env.close();
}

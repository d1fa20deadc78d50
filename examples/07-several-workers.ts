/**
 * Several workers. Any number of processes on any number of machines share the work through PostgreSQL alone:
 * each claims tool calls with SELECT ... FOR UPDATE SKIP LOCKED, model calls of all runs are coalesced into
 * shared Message Batches, and LISTEN/NOTIFY wakes whoever is idle (polling is the fallback).
 *
 * This program starts two worker processes (this same file with the argument `worker`), then acts as the
 * application: it creates an agent and eight runs, and waits for them. It runs no tools itself.
 *
 *   npx tsx examples/07-several-workers.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AgentPG, defineTool } from 'agentpg';
import { join, setup } from './_env.js';

// The tool code every worker registers. The output says which process ran it.
const resizeImage = defineTool({
  name: 'resize_image',
  description: 'Resize an image to thumbnail size',
  input: z.object({ image: z.string() }),
  execute: async ({ image }, ctx) => {
    await new Promise((r) => setTimeout(r, 150)); // pretend to work; honour ctx.signal in real code
    return `${image} resized by ${process.env.WORKER_NAME} (pid ${process.pid}, attempt ${ctx.attempt})`;
  },
});

if (process.argv[2] === 'worker') {
  // ---- a worker process ------------------------------------------------------------------------------------
  const env = join();
  const worker = new AgentPG({
    ...env.config,
    name: process.env.WORKER_NAME!,
    maxConcurrentTools: 2, // this instance runs at most 2 tool calls at once
  });
  worker.registerTool(resizeImage);
  await worker.start();
  console.log(`READY ${worker.instanceId}`);
  // A graceful stop hands unfinished work back to the queue; another instance picks it up.
  const stop = async () => {
    await worker.stop();
    await env.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
} else {
  // ---- the application ---------------------------------------------------------------------------------------
  const env = await setup();
  const workers = await Promise.all(['worker-a', 'worker-b'].map((name) => startWorker(name, env.childEnv)));
  console.log(`started ${workers.length} worker processes`);
  // This client only creates and waits for runs: it is never started, so it does no work itself.
  const app = new AgentPG(env.config);
  try {
    const agent = await app.getOrCreateAgent({
      name: 'image-bot',
      model: env.model,
      systemPrompt: 'You process images with your tools.',
      tools: ['resize_image'],
    });
    const images = ['cat.png', 'dog.png', 'bird.png', 'fish.png', 'horse.png', 'mouse.png', 'owl.png', 'fox.png'];
    const sessions = await Promise.all(images.map(() => app.newSession()));
    const runIds = await Promise.all(images.map((image, i) => app.run(sessions[i]!, agent.id, `Resize the image "${image}" to a thumbnail.`)));
    const byWorker = new Map<string, number>();
    for (const runId of runIds) {
      const response = await app.waitForRun(runId, { timeoutMs: 10 * 60_000 });
      const output = String(response.toolCalls[0]?.output ?? '');
      console.log(output);
      const name = /resized by (\S+)/.exec(output)?.[1] ?? 'nobody';
      byWorker.set(name, (byWorker.get(name) ?? 0) + 1);
    }
    console.log(`tool calls per worker: ${[...byWorker].map(([w, n]) => `${w} ${n}`).join(', ')}`);
    // Model calls of different runs that are due at the same time travel in one Message Batch.
    const perBatch = new Map<string, number>();
    let calls = 0;
    for (const runId of runIds) {
      for (const it of await app.getRunIterations(runId)) {
        calls++;
        if (it.anthropicBatchId) perBatch.set(it.anthropicBatchId, (perBatch.get(it.anthropicBatchId) ?? 0) + 1);
      }
    }
    console.log(`${calls} model calls went to Claude in ${perBatch.size} Message Batches (the largest carried ${Math.max(...perBatch.values())})`);
  } finally {
    await Promise.all(workers.map(stopWorker));
    await env.close();
  }
}

function startWorker(name: string, childEnv: Record<string, string>): Promise<ChildProcess> {
  // process.execArgv carries tsx's loader, so the child runs TypeScript the same way.
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'worker'], {
    env: { ...process.env, ...childEnv, WORKER_NAME: name },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready`)));
  });
}

function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

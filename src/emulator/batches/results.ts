import { createHash } from 'node:crypto';
import type { BatchItem } from './batch.js';

/** Lines per chunk: big enough to be cheap, small enough that results are streamed rather than built as one string. */
const LINES_PER_CHUNK = 500;

/**
 * The results file as a stream of JSONL: one `{"custom_id","result"}` object per line, each ending in "\n", never a
 * blank line (the SDK JSON-parses every line). With `shuffle`, lines come in a deterministic scrambled order, since
 * the API promises no order and clients must match on custom_id.
 */
export function* resultsChunks(batchId: string, items: readonly BatchItem[], shuffle: boolean): Generator<string> {
  const order = shuffle ? shuffledOrder(batchId, items.length) : undefined;
  for (let next = 0; next < items.length; ) {
    let chunk = '';
    const end = Math.min(items.length, next + LINES_PER_CHUNK);
    for (; next < end; next++) {
      const item = items[order ? order[next]! : next]!;
      chunk += `${JSON.stringify({ custom_id: item.customId, result: item.result })}\n`;
    }
    yield chunk;
  }
}

function shuffledOrder(seed: string, n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  const rand = () => {
    // xorshift32: deterministic per batch, good enough to scramble an order.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

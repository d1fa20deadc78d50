import {
  expectArray,
  expectObject,
  expectPattern,
  fail,
  noExtraFields,
  required,
} from '../validation/check.js';
import { BATCH_FORBIDDEN } from '../validation/request.js';
import type { BatchItem } from './batch.js';

const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * The checks batch create does synchronously (400 on failure): the envelope, custom_id pattern and uniqueness, the
 * number of requests and, when `rejectUnsupported`, params a batch never accepts (stream, speed, max_tokens 0, Threads
 * fields). Everything else in `params` is validated later, per request, into `errored` results.
 */
export function validateBatchCreate(body: unknown, maxRequests: number, rejectUnsupported: boolean): BatchItem[] {
  const obj = expectObject(body, '');
  const requests = expectArray(required(obj, 'requests'), 'requests');
  noExtraFields(obj, new Set(['requests']));
  if (requests.length === 0) fail('requests', 'List should have at least 1 item after validation, not 0');
  if (requests.length > maxRequests)
    fail('requests', `List should have at most ${maxRequests} items after validation, not ${requests.length}`);

  const seen = new Set<string>();
  return requests.map((r, i) => {
    const path = `requests.${i}`;
    const entry = expectObject(r, path);
    const customId = expectPattern(required(entry, 'custom_id', `${path}.custom_id`), CUSTOM_ID, `${path}.custom_id`);
    const params = expectObject(required(entry, 'params', `${path}.params`), `${path}.params`);
    noExtraFields(entry, new Set(['custom_id', 'params']), path);
    if (seen.has(customId)) fail('requests', `custom_id values must be unique within a batch; found duplicate '${customId}'`);
    seen.add(customId);
    if (rejectUnsupported) {
      if (params.stream === true) fail(`${path}.params.stream`, 'streaming is not supported in batch requests');
      if (params.speed !== undefined && params.speed !== null) fail(`${path}.params.speed`, 'Extra inputs are not permitted');
      for (const f of BATCH_FORBIDDEN) if (f in params) fail(`${path}.params.${f}`, 'Extra inputs are not permitted');
      // Only the value 0 is a batch-specific rule; other bad max_tokens values are ordinary (asynchronous) param errors.
      if (params.max_tokens === 0) fail(`${path}.params.max_tokens`, 'Input should be greater than or equal to 1');
    }
    return { customId, params };
  });
}

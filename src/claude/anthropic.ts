import Anthropic from '@anthropic-ai/sdk';
import type { ResolvedConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import { nodeFetch } from './transport.js';

/** The SDK client of a config, created on first use so that a client without a key can still manage data. */
export function anthropicFor(config: ResolvedConfig): () => Anthropic {
  let client: Anthropic | undefined = config.anthropic;
  return () => {
    if (client) return client;
    if (!config.apiKey) {
      throw new ConfigError('no Claude API key: set ANTHROPIC_API_KEY, pass apiKey, or pass an Anthropic client as `anthropic`');
    }
    client = new Anthropic({
      apiKey: config.apiKey,
      ...(config.baseURL ? { baseURL: config.baseURL } : {}),
      ...(config.httpTransport === 'node' ? { fetch: nodeFetch() } : {}),
    });
    return client;
  };
}

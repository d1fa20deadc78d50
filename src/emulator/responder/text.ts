import type { MessageParam, ToolResultBlockParam } from '@anthropic-ai/sdk/resources/messages/messages';
import type { MessageRequest } from '../types.js';

/** Words too common to say anything about which tool a user wants. */
const STOPWORDS = new Set(
  (
    'a an the and or but if then else of to in on at by for with from into onto about as is are was were be been ' +
    'being am do does did done have has had having can could would should will shall may might must it its this ' +
    'that these those there here what whats which who whom whose when where why how me my mine you your yours we ' +
    'our us they them their he she his her i please tell give get gets got set use uses using used tool tools ' +
    'function call calls return returns returned current given some any all each every one two more most other ' +
    'such only own same so than too very just now also not no yes ok okay let lets like want need make makes ' +
    'information info data value values thing things specified provided input output result results'
  ).split(/\s+/),
);

/** Lower-cased meaningful words: split on non-alphanumerics and camelCase, stopwords and short words dropped, crude plural stemming. */
export function meaningfulWords(text: string): Set<string> {
  const spaced = text.replace(/([a-z0-9])([A-Z])/g, '$1 $2');
  const out = new Set<string>();
  for (const raw of spaced.toLowerCase().split(/[^a-z0-9]+/)) {
    if (raw.length < 3 || STOPWORDS.has(raw)) continue;
    out.add(stem(raw));
  }
  return out;
}

function stem(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

export function isStopword(word: string): boolean {
  return STOPWORDS.has(word.toLowerCase());
}

/** The plain text of a turn's content: string content, or its text blocks joined. */
export function textOfContent(content: MessageParam['content'] | ToolResultBlockParam['content']): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  const parts: string[] = [];
  for (const b of content) {
    if (b.type === 'text') parts.push(b.text);
    else if (b.type === 'image') parts.push('[image]');
    else if (b.type === 'document') parts.push('[document]');
  }
  return parts.join('\n');
}

/** Index of the last `user` message, or -1. */
export function lastUserIndex(req: MessageRequest): number {
  for (let i = req.messages.length - 1; i >= 0; i--) if (req.messages[i]!.role === 'user') return i;
  return -1;
}

/** The text of the latest user turn (tool results excluded). */
export function latestUserText(req: MessageRequest): string {
  const i = lastUserIndex(req);
  return i < 0 ? '' : textOfContent(req.messages[i]!.content).trim();
}

/** Shortens `text` to `max` characters on a word boundary, with an ellipsis. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

import { createHmac, randomBytes } from 'node:crypto';

/**
 * Thinking-block signatures. A signature is an HMAC of the thinking text under a per-emulator secret, so the
 * emulator can tell, without storing anything, whether a thinking block passed back was changed.
 */
export class Signer {
  readonly #secret = randomBytes(32);

  sign(thinking: string): string {
    const mac = createHmac('sha256', this.#secret).update(thinking).digest();
    // Real signatures are long opaque base64; the padding makes ours look the part.
    return Buffer.concat([Buffer.from('EmuSig1'), mac, mac]).toString('base64');
  }

  verify(thinking: string, signature: string): boolean {
    return signature === this.sign(thinking);
  }
}

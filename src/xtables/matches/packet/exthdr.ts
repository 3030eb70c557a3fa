/**
 * Shared pieces of the IPv6 extension-header matches (frag, rt, hbh, dst, ah) and the
 * upper-layer header matches nfemu cannot look into (esp, IPv4 ah, mh).
 *
 * nfemu packets carry no IPv6 extension headers. The kernel's matches start with
 * ipv6_find_hdr(); when the header is missing they return false before looking at `!`, so
 * these matches never match, negated or not. That is what NO_HEADER implements.
 */
import { NfemuError } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import type { Matcher } from '../../ext.ts';

/** A range of a 32-bit header field with its `!`. */
export interface U32Range {
  readonly min: number;
  readonly max: number;
  readonly invert: boolean;
}

export const FULL_U32: U32Range = Object.freeze({ min: 0, max: 0xffffffff, invert: false });

export function isFull32(r: U32Range): boolean {
  return r.min === 0 && r.max === 0xffffffff;
}

/** `[! ]--OPT a[:b]` when the range is not 0:4294967295 (iptables 1.8.9 then prints nothing, `!` or not). */
export function printU32Range(opt: string, r: U32Range): string {
  if (isFull32(r)) return '';
  return `${r.invert ? '! ' : ''}--${opt} ${r.min === r.max ? r.min : `${r.min}:${r.max}`}`;
}

/** The IPv6 extension header is absent: the kernel's match returns false whatever `!` says. */
export const NO_HEADER: Matcher = Object.freeze({ match: (_pkt: Packet): boolean => false });

/** Matches every packet that is not a non-first fragment (an upper-layer match with nothing to test). */
class FirstFragmentOnly implements Matcher {
  match(pkt: Packet): boolean {
    return !pkt.fragment;
  }
}

/**
 * An upper-layer header nfemu packets do not carry (ESP or AH SPI, mobility header type):
 * a range that covers every value can be evaluated (everything matches, or nothing if
 * negated); anything narrower cannot, and compile refuses it rather than guess.
 */
export function upperLayerMatcher(module: string, what: string, full: boolean, invert: boolean): Matcher {
  if (!full) {
    throw new NfemuError('UNSUPPORTED', `${module}: nfemu packets carry no ${what}, so -m ${module} with a ${what} value cannot be evaluated`);
  }
  return invert ? NO_HEADER : new FirstFragmentOnly();
}

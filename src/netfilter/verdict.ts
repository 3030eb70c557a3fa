/** Netfilter verdicts (NF_*), as hook functions and targets return them. */
export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const NF_STOLEN = 2;
export const NF_QUEUE = 3;
export const NF_REPEAT = 4;
export const NF_STOP = 5;

/** x_tables pseudo-verdicts: keep walking the chain, or return from it. */
export const XT_CONTINUE = -1;
export const XT_RETURN = -(NF_REPEAT + 1);

export const VERDICT_NAMES: Readonly<Record<number, string>> = {
  [NF_DROP]: 'DROP',
  [NF_ACCEPT]: 'ACCEPT',
  [NF_STOLEN]: 'STOLEN',
  [NF_QUEUE]: 'QUEUE',
  [NF_REPEAT]: 'REPEAT',
  [NF_STOP]: 'STOP',
  [XT_CONTINUE]: 'CONTINUE',
  [XT_RETURN]: 'RETURN',
};

export function verdictName(v: number): string {
  return VERDICT_NAMES[v] ?? `VERDICT(${v})`;
}

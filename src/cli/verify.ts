/** `nfemu verify --kernel CASE.json`: the same case in the kernel and in nfemu, diffed per packet. */
import { NfemuError } from '../core/index.ts';
import { readCaseFile, runCase } from '../host/index.ts';
import { diffPacket, type PacketAnswer } from '../verify/index.ts';
import { kernelAvailable, runCaseInKernel } from '../verify/kernel/index.ts';

export async function verifyCommand(argv: string[]): Promise<number> {
  const kernelFlag = argv.includes('--kernel');
  const files = argv.filter((a) => !a.startsWith('--'));
  if (!kernelFlag || files.length !== 1) throw new NfemuError('USAGE', 'usage: nfemu verify --kernel CASE.json');
  const avail = kernelAvailable();
  if (!avail.ok) throw new NfemuError('USAGE', `cannot run the kernel side: ${avail.reason}`);
  const file = files[0]!;
  const { cases, baseDir } = readCaseFile(file);
  let agree = 0;
  let total = 0;
  for (const [ci, c] of cases.entries()) {
    const mine = runCase(c, { baseDir, file });
    const kernel = (await runCaseInKernel(c, { baseDir })) as unknown as { results: PacketAnswer[] };
    mine.results.forEach((r, i) => {
      total++;
      const d = diffPacket(r as unknown as PacketAnswer, kernel.results[i]!);
      const label = cases.length > 1 ? `case ${ci + 1} packet ${i + 1}` : `packet ${i + 1}`;
      if (d.agree) {
        agree++;
        process.stdout.write(`${label}: agree (${r.final.verdict}, ${r.final.fate})\n`);
      } else {
        process.stdout.write(`${label}: DIVERGES\n${d.divergence}\n`);
      }
    });
  }
  process.stdout.write(`kernel agreement: ${agree}/${total} packets\n`);
  return agree === total ? 0 : 1;
}

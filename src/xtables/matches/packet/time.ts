/**
 * `-m time` (libxt_time.c, xt_time.c): --datestart/--datestop (ISO 8601, UTC), --timestart/
 * --timestop (hh:mm[:ss]), --weekdays, --monthdays, --kerneltz, --contiguous.
 *
 * The kernel reads the wall clock in whole seconds; nfemu uses ctx.nowMs (ms since the Unix
 * epoch, UTC). With --kerneltz the kernel shifts by its timezone (sys_tz); nfemu hosts keep
 * the kernel timezone at UTC (offset 0), the default when nothing sets it.
 */
import type { Packet } from '../../../packet/index.ts';
import type { CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv, XtContext } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { strtoul, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

export const XT_TIME_LOCAL_TZ = 1;
export const XT_TIME_CONTIGUOUS = 2;
export const XT_TIME_ALL_MONTHDAYS = 0xfffffffe;
export const XT_TIME_ALL_WEEKDAYS = 0xfe;
export const XT_TIME_MAX_DAYTIME = 24 * 60 * 60 - 1;
const INT_MAX = 0x7fffffff;
const SECONDS_PER_DAY = 86400;

export interface TimeData {
  /** Seconds since the epoch (u32). */
  readonly dateStart: number;
  readonly dateStop: number;
  /** Seconds since midnight. */
  readonly daytimeStart: number;
  readonly daytimeStop: number;
  /** Bits 1 (Monday) … 7 (Sunday); other bits may be set by odd input and never match. */
  readonly weekdays: number;
  /** Bits 1 … 31 (bit 0 may be set by odd input). */
  readonly monthdays: number;
  /** XT_TIME_LOCAL_TZ | XT_TIME_CONTIGUOUS. */
  readonly flags: number;
}

const O_DATE_START = 0, O_DATE_STOP = 1, O_TIME_START = 2, O_TIME_STOP = 3, O_CONTIG = 4;
const O_MONTHDAYS = 5, O_WEEKDAYS = 6, O_LOCAL_TZ = 7, O_UTC = 8, O_KERNEL_TZ = 9;
const TABLE: readonly X6Entry[] = [
  { id: O_DATE_START, name: 'datestart', args: 1 },
  { id: O_DATE_STOP, name: 'datestop', args: 1 },
  { id: O_TIME_START, name: 'timestart', args: 1 },
  { id: O_TIME_STOP, name: 'timestop', args: 1 },
  { id: O_CONTIG, name: 'contiguous', args: 0 },
  { id: O_WEEKDAYS, name: 'weekdays', args: 1, invert: true },
  { id: O_MONTHDAYS, name: 'monthdays', args: 1, invert: true },
  { id: O_LOCAL_TZ, name: 'localtz', args: 0, excl: 1 << O_UTC },
  { id: O_UTC, name: 'utc', args: 0, excl: (1 << O_LOCAL_TZ) | (1 << O_KERNEL_TZ) },
  { id: O_KERNEL_TZ, name: 'kerneltz', args: 0, excl: 1 << O_UTC },
];

const WEEK_DAYS = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** time_parse_date: YYYY[-MM[-DD[Thh[:mm[:ss]]]]], 1970 ≤ YYYY ≤ 2038, evaluated in UTC (mktime normalises). */
function parseDate(s: string, env: ParseEnv, token: string): number {
  const bad = (): never => env.fail(`Invalid date "${s}" specified. Should be YYYY[-MM[-DD[Thh[:mm[:ss]]]]]`, token);
  const f = [0, 1, 1, 0, 0, 0];
  const seps = ['-', '-', 'T', ':', ':', ''];
  const maxes = [Infinity, 12, 31, 23, 59, 59];
  let p = 0;
  for (let i = 0; i < 6; i++) {
    const r = strtoul(s, p, 10);
    const v = r.overflow ? Infinity : Number(r.value);
    const end = r.end;
    const next = s[end];
    if ((next !== seps[i] && end !== s.length) || (i === 5 && end !== s.length) || v > maxes[i]!) bad();
    if (i === 0 && (v < 1970 || v > 2038)) bad();
    f[i] = v;
    if (end === s.length) break;
    p = end + 1;
  }
  const ms = Date.UTC(f[0]!, f[1]! - 1, f[2]!, f[3]!, f[4]!, f[5]!);
  const t = Math.floor(ms / 1000);
  if (t < 0) bad();
  return t >>> 0;
}

/** time_parse_minutes: hh:mm[:ss]. */
function parseDaytime(s: string, env: ParseEnv, token: string): number {
  const bad = (at: number): never =>
    env.fail(`invalid time "${s.slice(at)}" specified, should be hh:mm[:ss] format and within the boundaries`, token);
  const h = strtoul(s, 0, 10);
  if (s[h.end] !== ':' || h.value > 23n) bad(0);
  const mStart = h.end + 1;
  const m = strtoul(s, mStart, 10);
  if ((s[m.end] !== ':' && m.end !== s.length) || m.value > 59n) bad(mStart);
  let sec = 0n;
  if (m.end !== s.length) {
    const sStart = m.end + 1;
    const r = strtoul(s, sStart, 10);
    if (r.end !== s.length || r.value > 59n) bad(sStart);
    sec = r.value;
  }
  return Number(h.value) * 3600 + Number(m.value) * 60 + Number(sec);
}

/** my_strseg: the next comma-separated piece, cut to `keep` characters (the C buffer size − 1). */
function segments(arg: string, keep: number): string[] {
  const out: string[] = [];
  let rest: string | null = arg;
  while (rest !== null && rest.length > 0) {
    const comma: number = rest.indexOf(',');
    const piece: string = comma < 0 ? rest : rest.slice(0, comma);
    out.push(piece.slice(0, keep));
    rest = comma < 0 ? null : rest.slice(comma + 1);
  }
  return out;
}

function parseWeekdays(arg: string, env: ParseEnv, token: string): number {
  let ret = 0;
  for (const day of segments(arg, 3)) {
    const r = strtoul(day, 0, 0);
    if (r.end === day.length) {
      const i = Number(r.value & 0xffffffffn);
      if (i === 0) env.fail('No, the week does NOT begin with Sunday.', token);
      ret |= 1 << (i & 31);
      continue;
    }
    let valid = false;
    for (let i = 1; i < WEEK_DAYS.length; i++) {
      if (day.slice(0, 2) === WEEK_DAYS[i]!.slice(0, 2)) {
        ret |= 1 << i;
        valid = true;
      }
    }
    if (!valid) env.fail(`${day} is not a valid day specifier`, token);
  }
  return ret >>> 0;
}

function parseMonthdays(arg: string, env: ParseEnv, token: string): number {
  let ret = 0;
  for (const day of segments(arg, 2)) {
    const r = strtoul(day, 0, 0);
    if ((r.end !== day.length && day[r.end] !== ',') || r.value > 31n) env.fail(`${day} is not a valid day for --monthdays`, token);
    ret |= 1 << Number(r.value);
  }
  return ret >>> 0;
}

function parse(opts: readonly OptionUse[], env: ParseEnv): TimeData {
  const x6 = new X6Parser('time', TABLE, env);
  let dateStart = 0, dateStop = INT_MAX, daytimeStart = 0, daytimeStop = XT_TIME_MAX_DAYTIME;
  let weekdays = XT_TIME_ALL_WEEKDAYS, monthdays = XT_TIME_ALL_MONTHDAYS, flags = 0;
  for (const o of opts) {
    const e = x6.use(o);
    const a = o.args[0] ?? '';
    switch (e.id) {
      case O_DATE_START: dateStart = parseDate(a, env, o.token); break;
      case O_DATE_STOP: dateStop = parseDate(a, env, o.token); break;
      case O_TIME_START: daytimeStart = parseDaytime(a, env, o.token); break;
      case O_TIME_STOP: daytimeStop = parseDaytime(a, env, o.token); break;
      case O_CONTIG: flags |= XT_TIME_CONTIGUOUS; break;
      case O_LOCAL_TZ: // iptables warns that --localtz is being replaced by --kerneltz
      case O_KERNEL_TZ: flags |= XT_TIME_LOCAL_TZ; break;
      case O_UTC: break;
      case O_MONTHDAYS:
        monthdays = parseMonthdays(a, env, o.token);
        if (o.invert) monthdays = (monthdays ^ XT_TIME_ALL_MONTHDAYS) >>> 0;
        break;
      default:
        weekdays = parseWeekdays(a, env, o.token);
        if (o.invert) weekdays = (weekdays ^ XT_TIME_ALL_WEEKDAYS) >>> 0;
    }
  }
  if (x6.has(O_CONTIG) && daytimeStart < daytimeStop) {
    env.fail('time: --contiguous only makes sense when stoptime is smaller than starttime');
  }
  x6.finish();
  return { dateStart, dateStop, daytimeStart, daytimeStop, weekdays, monthdays, flags };
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

function hms(t: number): string {
  return `${pad2(Math.floor(t / 3600))}:${pad2(Math.floor(t / 60) % 60)}:${pad2(t % 60)}`;
}

function isoDate(t: number): string {
  const d = new Date(t * 1000);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

function print(d: TimeData): string {
  const out: string[] = [];
  if (d.daytimeStart !== 0 || d.daytimeStop !== XT_TIME_MAX_DAYTIME) {
    out.push(`--timestart ${hms(d.daytimeStart)}`, `--timestop ${hms(d.daytimeStop)}`);
  }
  if (d.monthdays !== XT_TIME_ALL_MONTHDAYS) {
    const days: number[] = [];
    for (let i = 1; i <= 31; i++) if (d.monthdays & (1 << i)) days.push(i);
    out.push(`--monthdays ${days.join(',')}`);
  }
  if (d.weekdays !== XT_TIME_ALL_WEEKDAYS) {
    const days: string[] = [];
    for (let i = 1; i <= 7; i++) if (d.weekdays & (1 << i)) days.push(WEEK_DAYS[i]!);
    out.push(`--weekdays ${days.join(',')}`);
  }
  if (d.dateStart !== 0) out.push(`--datestart ${isoDate(d.dateStart)}`);
  if (d.dateStop !== 0) out.push(`--datestop ${isoDate(d.dateStop)}`);
  if (d.flags & XT_TIME_LOCAL_TZ) out.push('--kerneltz');
  if (d.flags & XT_TIME_CONTIGUOUS) out.push('--contiguous');
  return out.join(' ');
}

/** Day of month (1-31) of a day number since 1970-01-01 (proleptic Gregorian, UTC). Allocation-free. */
export function monthdayOfDays(days: number): number {
  // Howard Hinnant's civil_from_days.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  return doy - Math.floor((153 * mp + 2) / 5) + 1;
}

/** time_mt. Hot path: integer arithmetic only. */
class TimeMatcher implements Matcher {
  constructor(private readonly d: TimeData) {}

  match(_pkt: Packet, ctx: XtContext): boolean {
    const d = this.d;
    // ktime_get_real_seconds(); sys_tz is UTC on nfemu hosts, so --kerneltz shifts by 0.
    let stamp = Math.floor(ctx.nowMs / 1000);
    if (stamp < d.dateStart || stamp > d.dateStop) return false;
    const packetTime = ((stamp % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY;
    if (d.daytimeStart < d.daytimeStop) {
      if (packetTime < d.daytimeStart || packetTime > d.daytimeStop) return false;
    } else {
      if (packetTime < d.daytimeStart && packetTime > d.daytimeStop) return false;
      if (d.flags & XT_TIME_CONTIGUOUS && packetTime <= d.daytimeStop) stamp -= SECONDS_PER_DAY;
    }
    const dse = Math.floor(stamp / SECONDS_PER_DAY);
    // 1970-01-01 was a Thursday (4); Monday = 1 … Sunday = 7.
    const weekday = (((4 + dse - 1) % 7) + 7) % 7 + 1;
    if (!(d.weekdays & (1 << weekday))) return false;
    if (d.monthdays !== XT_TIME_ALL_MONTHDAYS && !(d.monthdays & (1 << monthdayOfDays(dse)))) return false;
    return true;
  }
}

export const timeMatch: MatchExt<TimeData> = {
  name: 'time',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  compile: (d: TimeData, _env: CompileEnv) => new TimeMatcher(d),
};

registerMatch(timeMatch);

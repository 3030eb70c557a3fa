/**
 * -m time (xt_time.c time_mt) on ctx.nowMs (ms since the Unix epoch, UTC): date range,
 * daytime range (inclusive, wrapping past midnight), weekdays (Mon = 1 … Sun = 7), monthdays,
 * --contiguous. Times are built with Date.UTC; 2024-03-04 was a Monday.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compiled, context, pkt } from './helpers.ts';

const T = (iso: string): number => Date.parse(iso + 'Z');

type Row = readonly [what: string, tokens: string, at: string, expect: boolean];

const rows: Row[] = [
  ['inside the daytime range', '--timestart 07:00 --timestop 19:00', '2024-03-04T12:00:00', true],
  ['start is inclusive', '--timestart 07:00 --timestop 19:00', '2024-03-04T07:00:00', true],
  ['one second before start', '--timestart 07:00 --timestop 19:00', '2024-03-04T06:59:59.999', false],
  ['stop is inclusive to the second', '--timestart 07:00 --timestop 19:00', '2024-03-04T19:00:00.999', true],
  ['after stop', '--timestart 07:00 --timestop 19:00', '2024-03-04T19:00:01', false],
  ['range over midnight, late', '--timestart 22:00 --timestop 02:00', '2024-03-04T23:00:00', true],
  ['range over midnight, early', '--timestart 22:00 --timestop 02:00', '2024-03-05T01:00:00', true],
  ['range over midnight, midday', '--timestart 22:00 --timestop 02:00', '2024-03-04T12:00:00', false],
  ['weekday Monday', '--weekdays Mon', '2024-03-04T10:00:00', true],
  ['weekday Sunday is 7', '--weekdays 7', '2024-03-03T10:00:00', true],
  ['not Monday', '--weekdays Mon', '2024-03-03T10:00:00', false],
  ['! --weekdays Mon on a Monday', '! --weekdays Mon', '2024-03-04T10:00:00', false],
  ['without --contiguous the day is the packet’s own', '--weekdays Mon --timestart 23:00 --timestop 01:00', '2024-03-05T00:30:00', false],
  ['--contiguous: Tuesday 00:30 counts as Monday', '--weekdays Mon --timestart 23:00 --timestop 01:00 --contiguous', '2024-03-05T00:30:00', true],
  ['--contiguous: Monday 00:30 counts as Sunday', '--weekdays Mon --timestart 23:00 --timestop 01:00 --contiguous', '2024-03-04T00:30:00', false],
  ['monthday 29 in a leap February', '--monthdays 29', '2024-02-29T08:00:00', true],
  ['monthday 29 in March', '--monthdays 29', '2024-03-29T08:00:00', true],
  ['monthday 30 is not 29', '--monthdays 29', '2024-03-30T08:00:00', false],
  ['monthday 31', '--monthdays 31', '1999-12-31T23:59:59', true],
  ['datestart inclusive', '--datestart 2024-01-01', '2024-01-01T00:00:00', true],
  ['before datestart', '--datestart 2024-01-01', '2023-12-31T23:59:59', false],
  ['datestop inclusive to the second', '--datestop 2024-01-01T10:00:00', '2024-01-01T10:00:00.500', true],
  ['after datestop', '--datestop 2024-01-01T10:00:00', '2024-01-01T10:00:01', false],
  ['default datestop is 2038-01-19T03:14:07', '', '2038-01-19T03:14:08', false],
  ['--kerneltz: the nfemu kernel timezone is UTC', '--kerneltz --timestart 10:00 --timestop 11:00', '2024-03-04T10:30:00', true],
];

const s = suite('time match');
for (const [what, tokens, iso, expect] of rows) {
  s(`${what}: -m time ${tokens} at ${iso}Z`, () => {
    const { m, states } = compiled('time', tokens.split(' ').filter(Boolean));
    assert.is(m.match(pkt(), context(states, T(iso))), expect);
  });
}
s.run();

/**
 * The shape of a scenario (scenarios/*.ts): a named story of packets that prints what it
 * shows and checks it. Scenarios use only the public API (src/index.ts).
 */
export interface ScenarioIO {
  /** One line of the story. */
  say(line: string): void;
  /** An assertion the story makes; a false one fails the scenario. */
  check(cond: boolean, what: string): void;
  /** A walk (src/cluster) the story made, to be written as JSON / Mermaid when asked for. */
  walk?(name: string, walk: object): void;
}

export interface Scenario {
  readonly name: string;
  readonly title: string;
  run(io: ScenarioIO): void | Promise<void>;
}

import type { JsonValue } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Source } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { TERMINAL_CONTROL } from "../domain/terminal-controls.js";

const TERMINAL_CONTROLS = new RegExp(TERMINAL_CONTROL.source, "gu");
/** In JSON.stringify's text: a newline there is its own indentation (one in a string is written \n already). */
const TERMINAL_CONTROLS_BUT_NEWLINE = new RegExp(`(?!\\n)${TERMINAL_CONTROL.source}`, "gu");

const escaped = (character: string) => `\\u${character.codePointAt(0)!.toString(16).padStart(4, "0")}`;

/**
 * `text` with every control and bidi character written as \uXXXX: what the
 * server sends (names, audiences, audit targets, some stored before they were
 * refused, or from a config) is shown to the terminal, never obeyed by it.
 */
export const terminalText = (text: string) => text.replace(TERMINAL_CONTROLS, escaped);

/** Columns padded to the widest cell, two spaces apart; the last column is not padded. Cells are shown as terminalText. */
export function formatTable(headers: string[], unsafeRows: string[][]): string {
  const rows = unsafeRows.map((row) => row.map(terminalText));
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/** `label:  value` lines with the values aligned, shown as terminalText. */
export function formatFields(fields: Array<[label: string, value: string]>): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  return fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${terminalText(value)}`).join("\n") + "\n";
}

export const orDash = (value: string) => (value === "" ? "-" : value);

export const listText = (items: readonly string[], separator = " ") => orDash(items.join(separator));

export function timeText(timestamp: Timestamp | undefined): string {
  // Whole seconds: enough for people, and the columns stay narrow.
  return timestamp === undefined ? "-" : timestampDate(timestamp).toISOString().replace(/\.\d+Z$/, "Z");
}

export const secondsText = (seconds: bigint) => `${seconds}s`;

export const sourceText = (source: Source) => (source === Source.CONFIG ? "config" : source === Source.STORE ? "store" : "-");

/**
 * What --json prints. JSON.stringify escapes C0 controls in strings but not
 * DEL, C1 or bidi controls: those are escaped too, the same JSON to a parser.
 */
export const jsonText = (value: JsonValue) => `${JSON.stringify(value, null, 2).replace(TERMINAL_CONTROLS_BUT_NEWLINE, escaped)}\n`;

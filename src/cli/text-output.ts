import type { JsonValue } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Source } from "../../gen/tokensmith/v1/admin_service_pb.js";

/** Columns padded to the widest cell, two spaces apart; the last column is not padded. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/** `label:  value` lines with the values aligned. */
export function formatFields(fields: Array<[label: string, value: string]>): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  return fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`).join("\n") + "\n";
}

export const orDash = (value: string) => (value === "" ? "-" : value);

export const listText = (items: readonly string[], separator = " ") => orDash(items.join(separator));

export function timeText(timestamp: Timestamp | undefined): string {
  // Whole seconds: enough for people, and the columns stay narrow.
  return timestamp === undefined ? "-" : timestampDate(timestamp).toISOString().replace(/\.\d+Z$/, "Z");
}

export const secondsText = (seconds: bigint) => `${seconds}s`;

export const sourceText = (source: Source) => (source === Source.CONFIG ? "config" : source === Source.STORE ? "store" : "-");

/** What --json prints. */
export const jsonText = (value: JsonValue) => `${JSON.stringify(value, null, 2)}\n`;

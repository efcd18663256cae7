/**
 * What a terminal acts on rather than shows: the C0 and C1 controls and DEL
 * (Cc: ESC and CSI U+009B begin escape sequences) and the bidi controls
 * (U+200E/F, U+202A–U+202E, U+2066–U+2069, U+061C), which reorder what
 * follows. Names and labels an administrator or a client chooses are refused
 * with them, since another administrator reads them in a terminal (the CLI)
 * or a log.
 */
export const TERMINAL_CONTROL = /[\p{Cc}\p{Bidi_Control}]/u;

export const hasTerminalControls = (text: string) => TERMINAL_CONTROL.test(text);

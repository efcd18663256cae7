import { readFile } from "node:fs/promises";
import type { Page } from "playwright-core";

/** An element that sticks out of the viewport, described for a failure message. */
export interface Overflow {
  element: string;
  left: number;
  right: number;
}

/**
 * What sticks out of the viewport sideways: the page's own scroll width, and
 * every visible element whose box reaches past its left or right edge. An
 * element inside a horizontally scrollable box (overflow-x auto or scroll)
 * may be wider, as long as that box itself fits (it is checked as any other).
 */
export async function horizontalOverflow(page: Page): Promise<{ viewport: number; scrollWidth: number; overflowing: Overflow[] }> {
  return page.evaluate(() => {
    const viewport = window.innerWidth;
    const scrolls = (element: Element) => ["auto", "scroll"].includes(getComputedStyle(element).overflowX);
    const describe = (element: Element) => {
      const testid = element.getAttribute("data-testid");
      const classes = typeof element.className === "string" && element.className !== "" ? `.${element.className.trim().split(/\s+/).join(".")}` : "";
      return `${element.tagName.toLowerCase()}${classes}${testid ? `[data-testid=${testid}]` : ""} "${(element.textContent ?? "").trim().slice(0, 40)}"`;
    };
    const overflowing: Array<{ element: string; left: number; right: number }> = [];
    for (const element of Array.from(document.querySelectorAll("body *"))) {
      if (!element.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
      const box = element.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue;
      let inside = false;
      for (let parent = element.parentElement; parent !== null && parent !== document.body; parent = parent.parentElement) {
        if (scrolls(parent)) {
          inside = true;
          break;
        }
      }
      if (inside) continue;
      if (box.right > viewport + 0.5 || box.left < -0.5) overflowing.push({ element: describe(element), left: box.left, right: box.right });
    }
    return { viewport, scrollWidth: document.documentElement.scrollWidth, overflowing };
  });
}

/** A PNG's width and height, from its IHDR chunk (PNG spec §11.2.2); throws if the file is no PNG. */
export async function pngSize(path: string): Promise<{ width: number; height: number; bytes: number }> {
  const png = await readFile(path);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!png.subarray(0, 8).equals(signature) || png.toString("latin1", 12, 16) !== "IHDR") throw new Error(`${path} is not a PNG`);
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20), bytes: png.length };
}

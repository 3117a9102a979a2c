// The sample problems the first screen offers ("Try an example"), drawn by
// scripts/draw-samples.py, which writes samples.json and the pictures under ui/public/samples/.
import { fileToBase64 } from "../composer/clipboardImages";
import samples from "./samples.json";

export interface Example {
  id: string;
  title: string;
  /** The picture, relative to the app's own files. */
  file: string;
  question: string;
}

export const EXAMPLES: readonly Example[] = samples;

/** The example's picture as base64 PNG, read from the app's own files. */
export async function examplePicture(example: Example): Promise<string> {
  const response = await fetch(`/${example.file}`);
  if (!response.ok) {
    throw new Error(`the example picture ${example.file} could not be read (the app answered ${response.status})`);
  }
  return fileToBase64(await response.blob());
}

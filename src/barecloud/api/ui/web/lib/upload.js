// @ts-check
/**
 * An upload that reports its progress: fetch() has no upload progress, so
 * this is XMLHttpRequest with `upload.onprogress`. Errors are the service's
 * own words, as lib/api.js gives them (`ApiError`).
 */
import { ApiError, PATHS, errorMessage, expired } from "./api.js";

/**
 * @typedef {{loaded: number, total: number}} Progress
 */

/**
 * Send a file (or any Blob) as the body of one request.
 * @param {import("./api.js").Session} session
 * @param {import("./api.js").Service} service
 * @param {string} method
 * @param {string} path  relative to the service's root
 * @param {Blob} body
 * @param {{
 *   contentType?: string,
 *   onProgress?: (progress: Progress) => void,
 *   signal?: AbortSignal,
 * }} [options]
 * @returns {Promise<void>}
 */
export function upload(session, service, method, path, body, options = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, PATHS[service] + path);
    xhr.setRequestHeader("X-Auth-Token", session.token);
    xhr.setRequestHeader("Content-Type", options.contentType ?? "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      options.onProgress?.({ loaded: event.loaded, total: event.lengthComputable ? event.total : body.size });
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        options.onProgress?.({ loaded: body.size, total: body.size });
        resolve();
        return;
      }
      const message = errorMessage(xhr.status, xhr.responseText ?? "");
      if (xhr.status === 401) expired(message);
      reject(new ApiError(xhr.status, message));
    };
    xhr.onerror = () => reject(new ApiError(0, "The upload failed: the connection to the service was lost."));
    xhr.onabort = () => reject(new ApiError(0, "The upload was cancelled."));
    options.signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(body);
  });
}

/**
 * The percentage done, 0..100 (a whole number), of a progress report.
 * @param {Progress | null} progress
 * @returns {number}
 */
export function percent(progress) {
  if (!progress || progress.total <= 0) return 0;
  return Math.min(100, Math.floor((progress.loaded / progress.total) * 100));
}

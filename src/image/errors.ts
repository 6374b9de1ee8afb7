/*
 * ImageError: an image that cannot be used.  The message is one line,
 * "<what>: <problem> (<why>)", e.g.
 * "io_uring-1234.img: checksum mismatch (image damaged)".  Control
 * characters an image carries into it (a path with a newline) are
 * escaped as in JSON, so it stays one line.
 */
export class ImageError extends Error {
	constructor(readonly subject: string, readonly problem: string) {
		super(`${subject}: ${problem}`.replace(/[\x00-\x1f]/g, (c) => JSON.stringify(c).slice(1, -1)));
		this.name = 'ImageError';
	}
}

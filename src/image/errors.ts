/*
 * ImageError: an image that cannot be used.  The message is one line,
 * "<what>: <problem> (<why>)", e.g.
 * "io_uring-1234.img: checksum mismatch (image damaged)".
 */
export class ImageError extends Error {
	constructor(readonly subject: string, readonly problem: string) {
		super(`${subject}: ${problem}`);
		this.name = 'ImageError';
	}
}

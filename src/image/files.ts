/*
 * io_uring-<pid>.img files in a CRIU image directory.
 */
import * as fs from 'fs';
import * as path from 'path';
import { decodeImage, encodeImage } from './envelope';
import { ImageError } from './errors';
import { Image } from './types';
import { imageName, validateImage, validateImageSet } from './validate';

const IMAGE_RE = /^io_uring-(\d+)\.img$/;

/**
 * Writes io_uring-<pid>.img atomically: a temporary file in the same
 * directory, renamed over the real name, so a reader never sees a torn
 * file.  With sync (the default) the file and the directory are also
 * fsync'ed, so a machine crash leaves either the old image or the new
 * one; without, the caller syncs later (syncFiles: the plugin writes while
 * the tree is frozen and syncs once at the end of the dump).
 */
export function writeImage(dir: string, pid: number, img: Image, opts: { sync?: boolean } = {}): string {
	if (img.process?.pid !== pid) throw new ImageError(imageName(pid), `image is for pid ${img.process?.pid} (refusing to write it)`);
	const final = path.join(dir, imageName(pid));
	writeAtomic(final, encodeImage(img), opts.sync ?? true);
	return final;
}

/** data into file through a temporary file and a rename; with sync, fsync of the file and of its directory. */
export function writeAtomic(file: string, data: Uint8Array, sync: boolean): void {
	const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
	const fd = fs.openSync(temp, 'w', 0o600);
	try {
		fs.writeSync(fd, data);
		if (sync) fs.fsyncSync(fd);
	} catch (e) {
		fs.closeSync(fd);
		fs.rmSync(temp, { force: true });
		throw e;
	}
	fs.closeSync(fd);
	fs.renameSync(temp, file);
	if (sync) syncFiles([path.dirname(file)]);
}

/** fsync of files and directories (paths that no longer exist are skipped). */
export function syncFiles(paths: Iterable<string>): void {
	for (const p of paths) {
		let fd: number;
		try {
			fd = fs.openSync(p, 'r');
		} catch (e) {
			if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
			throw e;
		}
		try {
			fs.fsyncSync(fd);
		} finally {
			fs.closeSync(fd);
		}
	}
}

/** Reads and validates one image file; @files, if given, gets its bytes by file name. */
export function readImage(file: string, files?: Map<string, Buffer>): Image {
	const name = path.basename(file);
	let data: Buffer;
	try {
		data = fs.readFileSync(file);
	} catch (e) {
		throw new ImageError(name, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
	}
	files?.set(name, data);
	const img = decodeImage(data, name);
	validateImage(img, name);
	const m = IMAGE_RE.exec(name);
	if (m && Number(m[1]) !== img.process!.pid) {
		throw new ImageError(name, `holds the state of pid ${img.process!.pid} (file renamed or mixed up)`);
	}
	return img;
}

/** Pids that have an io_uring image in a CRIU image directory, ascending. */
export function imagePids(dir: string): number[] {
	return fs.readdirSync(dir)
		.map((f) => IMAGE_RE.exec(f))
		.filter((m): m is RegExpExecArray => m !== null)
		.map((m) => Number(m[1]))
		.sort((a, b) => a - b);
}

/**
 * Reads every io_uring-*.img of a CRIU image directory, validates each
 * and the set as a whole, and returns them in ascending pid order.
 * @files, if given, gets each file's bytes by name: the images' bytes
 * fields are views into them (saved-plan.ts refers to ring bytes by
 * their offset in the file).
 */
export function readImages(dir: string, files?: Map<string, Buffer>): Image[] {
	const images = imagePids(dir).map((pid) => readImage(path.join(dir, imageName(pid)), files));
	validateImageSet(images);
	return images;
}

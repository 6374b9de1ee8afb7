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
 * directory, fsync, rename, fsync of the directory.  A crash leaves either
 * the old image or the new one, never a torn file under the real name.
 */
export function writeImage(dir: string, pid: number, img: Image): string {
	if (img.process?.pid !== pid) throw new ImageError(imageName(pid), `image is for pid ${img.process?.pid} (refusing to write it)`);
	const data = encodeImage(img);
	const final = path.join(dir, imageName(pid));
	const temp = path.join(dir, `.${imageName(pid)}.tmp-${process.pid}`);
	const fd = fs.openSync(temp, 'w', 0o600);
	try {
		fs.writeSync(fd, data);
		fs.fsyncSync(fd);
	} catch (e) {
		fs.closeSync(fd);
		fs.rmSync(temp, { force: true });
		throw e;
	}
	fs.closeSync(fd);
	fs.renameSync(temp, final);
	const dfd = fs.openSync(dir, 'r');
	try {
		fs.fsyncSync(dfd);
	} finally {
		fs.closeSync(dfd);
	}
	return final;
}

/** Reads and validates one image file. */
export function readImage(file: string): Image {
	const name = path.basename(file);
	let data: Buffer;
	try {
		data = fs.readFileSync(file);
	} catch (e) {
		throw new ImageError(name, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
	}
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
 */
export function readImages(dir: string): Image[] {
	const images = imagePids(dir).map((pid) => readImage(path.join(dir, imageName(pid))));
	validateImageSet(images);
	return images;
}

/*
 * The image envelope: what makes a damaged, truncated or foreign file
 * fail loudly before anything is restored.
 *
 *   offset  size  field
 *        0     8  magic "\x89CRURING"
 *        8     4  envelope version, little endian (1)
 *       12     4  envelope flags, little endian (0; no flags defined)
 *       16     8  payload length, little endian
 *       24    32  SHA-256 of the payload
 *       56     n  payload: a UringImage message (proto/io_uring.proto)
 */
import { ImageError } from './errors';
import { decodePayload, encodePayload } from './schema';
import { FORMAT_VERSION, Image } from './types';
import { sha256 } from '../util/sha256';

export const MAGIC = Buffer.from([0x89, 0x43, 0x52, 0x55, 0x52, 0x49, 0x4e, 0x47]);
export const ENVELOPE_VERSION = 1;
export const HEADER_SIZE = 56;
const OFF_VERSION = 8;
const OFF_FLAGS = 12;
const OFF_LENGTH = 16;
const OFF_DIGEST = 24;

/** Wraps a payload in the envelope. */
export function wrapPayload(payload: Buffer): Buffer {
	const header = Buffer.alloc(HEADER_SIZE);
	MAGIC.copy(header, 0);
	header.writeUInt32LE(ENVELOPE_VERSION, OFF_VERSION);
	header.writeUInt32LE(0, OFF_FLAGS);
	header.writeBigUInt64LE(BigInt(payload.length), OFF_LENGTH);
	sha256(payload).copy(header, OFF_DIGEST);
	return Buffer.concat([header, payload]);
}

function checkMagic(buf: Buffer, name: string): void {
	const n = Math.min(buf.length, MAGIC.length);
	if (buf.length === 0) throw new ImageError(name, 'truncated (empty file)');
	if (!buf.subarray(0, n).equals(MAGIC.subarray(0, n))) {
		throw new ImageError(name, `bad magic ${buf.subarray(0, n).toString('hex')} (not a criu-uring io_uring image)`);
	}
	if (buf.length < HEADER_SIZE) {
		throw new ImageError(name, `truncated (${buf.length} bytes, the header alone is ${HEADER_SIZE})`);
	}
}

function checkEnvelopeVersion(buf: Buffer, name: string): void {
	const version = buf.readUInt32LE(OFF_VERSION);
	if (version > ENVELOPE_VERSION) {
		throw new ImageError(name, `envelope version ${version} is newer than ${ENVELOPE_VERSION} (written by a newer criu-uring)`);
	}
	if (version === 0) throw new ImageError(name, 'envelope version 0 (image damaged)');
	const flags = buf.readUInt32LE(OFF_FLAGS);
	if (flags !== 0) {
		throw new ImageError(name, `unknown envelope flags 0x${flags.toString(16)} (image damaged or written by a newer criu-uring)`);
	}
}

/** Checks the envelope and returns the payload it carries. */
export function unwrapPayload(buf: Buffer, name: string): Buffer {
	checkMagic(buf, name);
	checkEnvelopeVersion(buf, name);
	const length = buf.readBigUInt64LE(OFF_LENGTH);
	const have = BigInt(buf.length - HEADER_SIZE);
	if (have < length) throw new ImageError(name, `truncated (payload has ${have} of ${length} bytes)`);
	if (have > length) throw new ImageError(name, `${have - length} bytes after the payload (image damaged)`);
	const payload = buf.subarray(HEADER_SIZE);
	if (!sha256(payload).equals(buf.subarray(OFF_DIGEST, OFF_DIGEST + 32))) {
		throw new ImageError(name, 'checksum mismatch (image damaged)');
	}
	return payload;
}

function oneLine(s: string): string {
	return s.replace(/\s+/g, ' ').trim();
}

/** Encodes an image into the bytes of an io_uring-<pid>.img file. */
export function encodeImage(img: Image): Buffer {
	return wrapPayload(encodePayload(img));
}

/**
 * Decodes the bytes of an image file.  Verifies the envelope (magic,
 * version, length, checksum), the protobuf payload and the payload's
 * format version; throws ImageError naming `name` otherwise.  Semantic
 * checks are validateImage()'s job.
 */
export function decodeImage(buf: Buffer, name: string): Image {
	const payload = unwrapPayload(buf, name);
	let img: Image;
	try {
		img = decodePayload(payload);
	} catch (e) {
		throw new ImageError(name, `payload does not decode (image damaged: ${oneLine((e as Error).message)})`);
	}
	const version = img.header?.format_version ?? 0;
	if (version > FORMAT_VERSION) {
		throw new ImageError(name, `format version ${version} is newer than ${FORMAT_VERSION} (written by a newer criu-uring)`);
	}
	if (version === 0) throw new ImageError(name, 'no format version (image damaged)');
	return img;
}

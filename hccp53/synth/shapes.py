"""Implicit shapes of the phantom: signed distance (mm, negative inside) and a bounding box.

The distances are first-order approximations (exact for spheres and capsules), accurate
near the surface, which is all that the soft partial-volume edge needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Coords = tuple[np.ndarray, np.ndarray, np.ndarray]


class Shape:
    """Interface: ``sdf(x, y, z)`` and the LPS box ``bounds()`` that contains the shape."""

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def _rotation(angles: tuple[float, float, float]) -> np.ndarray:
    """Rotation matrix from z-y-x Euler angles (radians)."""
    a, b, c = angles
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Ellipsoid(Shape):
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    angles: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _local(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> Coords:
        rot = _rotation(self.angles).astype(np.float32)
        dx, dy, dz = x - np.float32(self.centre[0]), y - np.float32(self.centre[1]), z - np.float32(self.centre[2])
        u = (rot[0, 0] * dx + rot[1, 0] * dy + rot[2, 0] * dz) / np.float32(self.radii[0])
        v = (rot[0, 1] * dx + rot[1, 1] * dy + rot[2, 1] * dz) / np.float32(self.radii[1])
        w = (rot[0, 2] * dx + rot[1, 2] * dy + rot[2, 2] * dz) / np.float32(self.radii[2])
        return u, v, w

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        u, v, w = self._local(x, y, z)
        rho = np.sqrt(u * u + v * v + w * w)
        r = self.radii
        grad = np.sqrt((u / r[0]) ** 2 + (v / r[1]) ** 2 + (w / r[2]) ** 2)
        return (rho - 1.0) * rho / np.maximum(grad, np.float32(1e-6))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        extent = max(self.radii)
        c = np.asarray(self.centre)
        return c - extent, c + extent


@dataclass(frozen=True)
class LobulatedEllipsoid(Ellipsoid):
    """An ellipsoid whose radius varies with direction: ``1 + amplitude * sum_k w_k cos(f_k . d + phi_k)``.

    ``amplitude`` 0 is a smooth ellipsoid; 0.25 is a markedly lobulated, non-smooth margin.
    """

    amplitude: float = 0.0
    frequencies: tuple[tuple[float, float, float], ...] = ()
    phases: tuple[float, ...] = ()

    def radial_factor(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        rho = np.sqrt(u * u + v * v + w * w) + np.float32(1e-6)
        factor = np.ones_like(rho)
        if self.amplitude > 0 and self.frequencies:
            weight = np.float32(self.amplitude / np.sqrt(len(self.frequencies)))
            for f, phi in zip(self.frequencies, self.phases, strict=True):
                factor = factor + weight * np.cos((f[0] * u + f[1] * v + f[2] * w) / rho + np.float32(phi))
        return factor

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        u, v, w = self._local(x, y, z)
        rho = np.sqrt(u * u + v * v + w * w)
        return (rho - self.radial_factor(u, v, w)) * np.float32(np.mean(self.radii))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        extent = max(self.radii) * (1.0 + 1.5 * self.amplitude) + 2.0
        c = np.asarray(self.centre)
        return c - extent, c + extent


@dataclass(frozen=True)
class Offset(Shape):
    """``shape`` grown by ``distance`` mm (negative shrinks): capsules and rims are offsets."""

    shape: Shape
    distance: float

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self.shape.sdf(x, y, z) - np.float32(self.distance)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lower, upper = self.shape.bounds()
        grow = max(self.distance, 0.0)
        return lower - grow, upper + grow


@dataclass(frozen=True)
class EllipticCylinder(Shape):
    """Cylinder along z with an elliptic cross-section, limited to ``z_range``."""

    centre_xy: tuple[float, float]
    radii_xy: tuple[float, float]
    z_range: tuple[float, float] = (-1e4, 1e4)

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        a, b = self.radii_xy
        u = (x - np.float32(self.centre_xy[0])) / np.float32(a)
        v = (y - np.float32(self.centre_xy[1])) / np.float32(b)
        rho = np.sqrt(u * u + v * v)
        grad = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        radial = (rho - 1.0) * rho / np.maximum(grad, np.float32(1e-6))
        caps = np.maximum(np.float32(self.z_range[0]) - z, z - np.float32(self.z_range[1]))
        return np.maximum(radial, caps)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        cx, cy = self.centre_xy
        a, b = self.radii_xy
        return np.array([cx - a, cy - b, self.z_range[0]]), np.array([cx + a, cy + b, self.z_range[1]])


@dataclass(frozen=True)
class Tube(Shape):
    """A vessel: the points within ``radius`` of the segment from ``start`` to ``end``."""

    start: tuple[float, float, float]
    end: tuple[float, float, float]
    radius: float

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        a = np.asarray(self.start, dtype=np.float32)
        d = np.asarray(self.end, dtype=np.float32) - a
        length2 = np.float32(max(float(d @ d), 1e-6))
        px, py, pz = x - a[0], y - a[1], z - a[2]
        t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / length2, 0.0, 1.0)
        qx, qy, qz = px - t * d[0], py - t * d[1], pz - t * d[2]
        return np.sqrt(qx * qx + qy * qy + qz * qz) - np.float32(self.radius)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        a, b = np.asarray(self.start), np.asarray(self.end)
        return np.minimum(a, b) - self.radius, np.maximum(a, b) + self.radius


@dataclass(frozen=True)
class Union(Shape):
    parts: tuple[Shape, ...] = field(default_factory=tuple)

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        result = self.parts[0].sdf(x, y, z)
        for part in self.parts[1:]:
            result = np.minimum(result, part.sdf(x, y, z))
        return result

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        boxes = [p.bounds() for p in self.parts]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


@dataclass(frozen=True)
class Texture:
    """Smooth random field ``sum_k cos(k . p + phi)``, unit variance; the same tissue in every series."""

    wavevectors: tuple[tuple[float, float, float], ...]
    phases: tuple[float, ...]

    @classmethod
    def random(cls, rng: np.random.Generator, wavelength_mm: tuple[float, float], terms: int = 8) -> Texture:
        directions = rng.standard_normal((terms, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        wavelengths = rng.uniform(*wavelength_mm, size=terms)
        vectors = directions * (2 * np.pi / wavelengths)[:, None]
        return cls(tuple(map(tuple, vectors.tolist())), tuple(rng.uniform(0, 2 * np.pi, terms).tolist()))

    def __call__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        field_ = np.zeros(np.broadcast(x, y, z).shape, dtype=np.float32)
        for k, phi in zip(self.wavevectors, self.phases, strict=True):
            field_ += np.cos(np.float32(k[0]) * x + np.float32(k[1]) * y + np.float32(k[2]) * z + np.float32(phi))
        return field_ * np.float32(np.sqrt(2.0 / len(self.phases)))

// Package geo holds the geography that choosing places needs: great-circle
// distances for the nearest warehouse (fulfillment) and the nearest store
// (internal/dispatch).
package geo

import "math"

// EarthRadiusKm is the mean Earth radius.
const EarthRadiusKm = 6371.0088

// DistanceKm is the great-circle (haversine) distance between two points
// given in degrees.
func DistanceKm(lat1, lng1, lat2, lng2 float64) float64 {
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLng := (lng2 - lng1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * EarthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

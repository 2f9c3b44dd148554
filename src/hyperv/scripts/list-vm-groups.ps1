# Lists the VM groups (Msvm_VirtualSystemCollection) of this host with their member VM ids.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$groups = @()
$all = @()
try { $all = @(Get-CimInstance -Namespace $script:HvNs -ClassName Msvm_VirtualSystemCollection) } catch { $all = @() }
foreach ($g in $all) {
  $members = @(Get-CimAssociatedInstance -InputObject $g -Association Msvm_CollectedVirtualSystems -ResultClassName Msvm_ComputerSystem | ForEach-Object { [string]$_.Name })
  $groups += [ordered]@{ CollectionID = [string]$g.CollectionID; ElementName = [string]$g.ElementName; Members = $members }
}
ConvertTo-HvsnapJson ([ordered]@{ Groups = $groups })
